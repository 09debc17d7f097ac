"""Audio-token stacking (``encoder.stack``): k consecutive pooled states make one decoder position."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from auricle import api
from auricle.audio.features import audio_token_count, log_mel
from auricle.checkpoint.save import save_checkpoint
from auricle.demo import build_random_checkpoint
from auricle.errors import CheckpointError, ConfigError
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig, EncoderConfig, preset
from auricle.model.encoder import stack_states
from auricle.model.restack import restack


def _stacked(stack: int, taps: list[int] | None = None) -> AudioLM:
    base = preset("tiny-qwen-audio")
    enc = dataclasses.replace(base.encoder, n_layers=3, tap_layers=taps or [], stack=stack)
    torch.manual_seed(0)
    return AudioLM(dataclasses.replace(base, encoder=enc)).eval()


def _mel(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(len(lengths), 80, max(lengths)), torch.tensor(lengths)


def test_stacking_concatenates_consecutive_states_and_zero_fills_each_items_last_token() -> None:
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3) + 1
    out, n = stack_states(x, torch.tensor([5, 2]), 2)
    assert out.shape == (2, 3, 6) and n.tolist() == [3, 1]
    torch.testing.assert_close(out[0, 0], torch.cat([x[0, 0], x[0, 1]]))
    torch.testing.assert_close(out[0, 2], torch.cat([x[0, 4], torch.zeros(3)]))  # past the end: zeros
    torch.testing.assert_close(out[1, 0], torch.cat([x[1, 0], x[1, 1]]))
    same, n1 = stack_states(x, torch.tensor([5, 2]), 1)
    assert same is x and n1.tolist() == [5, 2]


@pytest.mark.parametrize("stack", [2, 3])
def test_encoder_tokens_are_the_unstacked_ones_concatenated(stack: int) -> None:
    plain, stacked = _stacked(1), _stacked(stack)
    stacked.encoder.load_state_dict(plain.encoder.state_dict())
    mel, frames = _mel([200, 163, 64])
    with torch.no_grad():
        ref, ref_n = plain.encoder(mel, frames)
        out, n = stacked.encoder(mel, frames)
    assert out.shape[-1] == stack * plain.cfg.encoder.d_model == stacked.cfg.encoder.pooled_dim
    assert stacked.projector.in_features == stacked.cfg.encoder.pooled_dim
    for b in range(len(frames)):
        k = int(ref_n[b])
        assert int(n[b]) == -(-k // stack)
        padded = torch.cat([ref[b, :k], ref.new_zeros(-k % stack, ref.shape[-1])])
        torch.testing.assert_close(out[b, : int(n[b])], padded.reshape(-1, out.shape[-1]), rtol=0, atol=0)


@pytest.mark.parametrize("stack", [1, 2, 3])
def test_token_counts_agree_with_the_encoder_for_any_length(stack: int) -> None:
    model = _stacked(stack)
    samples = [160 * 3, 16000, 16321, 16000 * 7 + 480, 480000 + 999]
    mel = log_mel([np.zeros(s, dtype=np.float32) for s in samples])
    counts = audio_token_count(mel.num_samples, "floor", stack)
    with torch.no_grad():
        embeds = model.encode_audio(mel.features, counts.mel_frames)
    assert [e.shape[0] - 2 for e in embeds] == counts.audio_tokens.tolist()  # learned bos/eos rows
    assert [
        audio_token_count(s, "floor", stack).audio_tokens for s in samples
    ] == counts.audio_tokens.tolist()
    assert audio_token_count(16000, "floor", stack).audio_tokens == -(-25 // stack)
    assert audio_token_count(0, "floor", stack).audio_tokens == 0


def test_an_item_in_a_batch_gets_the_tokens_it_gets_alone() -> None:
    model = _stacked(2)
    mel, frames = _mel([200, 118])
    with torch.no_grad():
        both = model.encode_audio(mel, frames)
        alone = model.encode_audio(mel[1:, :, :118], frames[1:])
    torch.testing.assert_close(both[1], alone[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("start", [0, 2, 3])
@pytest.mark.parametrize("taps", [[], [1]])
def test_continuing_from_cached_states_gives_the_whole_encoders_tokens(start: int, taps: list[int]) -> None:
    model = _stacked(2, taps)
    mel, frames = _mel([200, 121, 64])
    with torch.no_grad():
        full = model.encode_audio(mel, frames)
        states, conv_len = model.encoder.hidden_states(mel, frames, stop_layer=start)
        resumed = model.encode_audio_from(states, conv_len, start)
        top, conv_len = model.encoder.hidden_states(mel, frames)
        pooled, tokens = model.encoder.pool_states(top, conv_len)
        from_pooled = model.encode_audio_from(pooled, tokens, model.cfg.encoder.n_layers, pooled=True)
    for a, b, c in zip(full, resumed, from_pooled, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)


@pytest.mark.parametrize("stack", [0, -1, True, 1.5])
def test_invalid_stack_is_refused(stack) -> None:
    with pytest.raises(ConfigError, match="encoder.stack"):
        EncoderConfig(n_layers=3, d_model=64, n_heads=4, stack=stack)


def test_config_round_trips_and_older_configs_default_to_one(tmp_path) -> None:
    from auricle.checkpoint import export_hf_qwen2_audio
    from auricle.checkpoint.info import checkpoint_info, format_info

    cfg = _stacked(2).cfg
    assert AudioLMConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["encoder"]["stack"]
    assert AudioLMConfig.from_dict(old).encoder.stack == 1
    save_checkpoint(_stacked(2), tmp_path / "ckpt")
    assert "2 pooled states per audio token" in format_info(checkpoint_info(tmp_path / "ckpt"))
    with pytest.raises(CheckpointError, match="encoder.stack"):
        export_hf_qwen2_audio(_stacked(2), tmp_path / "hf", audio_token_id=0)


def test_the_api_sizes_prompts_for_stacked_tokens_and_batches_like_one_by_one(tmp_path) -> None:
    """Transcription and a two-audio chat run on a stacked model (each prompt's placeholders match
    its audio tokens), and a batch of clips of different lengths decodes as each clip alone."""
    folder = build_random_checkpoint(tmp_path / "plain")
    plain = api.load(folder).engine.model
    cfg = plain.cfg.replace(encoder=dataclasses.replace(plain.cfg.encoder, stack=2))
    torch.manual_seed(3)
    model = AudioLM(cfg)
    save_checkpoint(model, folder)  # the tokenizer files stay
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 24321, 9000)]
    stacked = api.load(folder, max_new_tokens=6)
    assert stacked.engine.model.cfg.encoder.stack == 2
    batch = stacked.transcribe(clips, language="en", batch_size=3)
    alone = [stacked.transcribe(c, language="en") for c in clips]
    assert [t.text for t in batch] == [t.text for t in alone]
    session = stacked.chat()
    reply = session.send("Compare them.", audios=clips[:2])
    assert isinstance(reply.text, str)


def test_restack_to_one_reads_each_state_as_the_stacked_token_of_copies_of_it() -> None:
    stacked = _stacked(2, taps=[1])
    plain = restack(copy.deepcopy(stacked), 1)
    assert plain.cfg.encoder.stack == plain.encoder.cfg.stack == 1
    assert plain.projector.in_features == plain.cfg.encoder.pooled_dim == stacked.cfg.encoder.pooled_dim // 2
    mel, frames = _mel([400, 256])
    with torch.no_grad():
        states, n = plain.encoder(mel, frames)  # one pooled state (with its tap) per token
        ours = plain.projector(states)
        copies = stacked.projector(torch.cat([states, states], dim=-1))
        assert n.tolist() == [100, 64]
        emb = plain.encode_audio(mel, frames)
    torch.testing.assert_close(ours, copies, rtol=1e-5, atol=1e-6)
    extra = 2 if plain.cfg.audio_boundary == "learned" else 0  # learned bos/eos rows
    assert [e.shape[0] - extra for e in emb] == [100, 64]  # twice the stacked model's 50 and 32


def test_restack_to_more_states_projects_their_mean_and_folds_back() -> None:
    plain = _stacked(1)
    tripled = restack(copy.deepcopy(plain), 3)
    d = plain.cfg.encoder.pooled_dim
    x = torch.randn(2, 5, 3, d)
    with torch.no_grad():
        torch.testing.assert_close(
            tripled.projector(x.reshape(2, 5, 3 * d)), plain.projector(x.mean(dim=2)), rtol=1e-5, atol=1e-6
        )
    back = restack(tripled, 1)
    torch.testing.assert_close(back.projector.weight, plain.projector.weight, rtol=1e-6, atol=1e-7)
    assert restack(back, 1) is back
    with pytest.raises(ConfigError, match="stack"):
        restack(back, 0)


def test_training_can_restack_a_checkpoint(tmp_path) -> None:
    from auricle.checkpoint import load_checkpoint
    from auricle.tokenizer import load_tokenizer
    from auricle.train.config import load_recipe
    from auricle.train.setup import build_model

    random_ckpt = build_random_checkpoint(tmp_path / "random")
    model = restack(load_checkpoint(random_ckpt, dtype="float32").model, 2)
    save_checkpoint(model, tmp_path / "stacked", tokenizer_folder=random_ckpt)
    tokenizer = load_tokenizer(tmp_path / "stacked")
    recipe = load_recipe(None, [f"model.checkpoint={tmp_path / 'stacked'}", "model.restack=1"])
    built = build_model(recipe, tokenizer)
    assert built.cfg.encoder.stack == 1
    torch.testing.assert_close(
        built.projector.weight, load_checkpoint(random_ckpt, dtype="float32").model.projector.weight
    )
    with pytest.raises(ConfigError, match="model.restack"):
        build_model(load_recipe(None, ["model.restack=1"]), tokenizer)
