"""Encoder taps (``encoder.tap_layers``): lower-layer states beside the top block's, cached or not."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from auricle.errors import ConfigError
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig, EncoderConfig, preset


def _tapped(taps: list[int]) -> AudioLM:
    base = preset("tiny-qwen-audio")
    enc = dataclasses.replace(base.encoder, n_layers=3, tap_layers=taps)
    torch.manual_seed(0)
    model = AudioLM(dataclasses.replace(base, encoder=enc)).eval()
    with torch.no_grad():  # non-identity norms, so that each part's own norm is exercised
        for norm in model.encoder.tap_norms:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0.0, 0.1)
    return model


def _mel(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    mel = torch.randn(len(lengths), 80, max(lengths))
    return mel, torch.tensor(lengths)


def test_pooled_states_are_each_layer_pooled_and_normalised_then_concatenated() -> None:
    model = _tapped([0, 2])
    enc = model.encoder
    mel, frames = _mel([200, 160])
    with torch.no_grad():
        pooled, n_tokens = enc(mel, frames)
        # the same by hand: run the blocks, keep the states after 0 and 2 of them
        x0, conv_len = enc.hidden_states(mel, frames, stop_layer=0)
        layers, x = [x0], x0
        for block in enc.blocks:
            x = block(x, (torch.arange(x.shape[1])[None] < conv_len[:, None])[:, None, None, :])
            layers.append(x)
        want = []
        for h, norm in [
            (layers[3], enc.final_norm),
            (layers[0], enc.tap_norms[0]),
            (layers[2], enc.tap_norms[1]),
        ]:
            p = F.avg_pool1d(h.transpose(1, 2), 2, 2).transpose(1, 2)[:, : int(n_tokens.max())]
            want.append(norm(p))
    assert pooled.shape[-1] == 3 * enc.cfg.d_model == model.cfg.encoder.pooled_dim
    assert model.projector.in_features == model.cfg.encoder.pooled_dim
    torch.testing.assert_close(pooled, torch.cat(want, dim=-1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("start", [0, 1, 2, 3])
def test_continuing_from_states_after_any_block_equals_the_whole_encoder(start: int) -> None:
    """What an encoder cache stores after ``start`` frozen blocks carries the taps already passed,
    and continuing from it gives exactly the full encoder's audio embeddings."""
    model = _tapped([0, 2])
    mel, frames = _mel([200, 120])
    with torch.no_grad():
        full = model.encode_audio(mel, frames)
        states, conv_len = model.encoder.hidden_states(mel, frames, stop_layer=start)
        passed = sum(t < start for t in model.cfg.encoder.tap_layers)
        assert states.shape[-1] == model.cfg.encoder.d_model * (1 + passed)
        resumed = model.encode_audio_from(states, conv_len, start)
    for a, b in zip(full, resumed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_no_taps_adds_no_parameters_and_config_round_trips() -> None:
    plain = AudioLM(preset("tiny-qwen-audio"))
    assert not any("tap_norms" in n for n in plain.state_dict())
    cfg = _tapped([1]).cfg
    assert AudioLMConfig.from_dict(cfg.to_dict()) == cfg
    assert "encoder.tap_norms.0.weight" in _tapped([1]).state_dict()


@pytest.mark.parametrize("taps", [[3], [-1], [1, 1], [2, 1]])
def test_invalid_taps_are_refused(taps: list[int]) -> None:
    with pytest.raises(ConfigError, match="tap_layers"):
        EncoderConfig(n_layers=3, d_model=64, n_heads=4, tap_layers=taps)


def test_export_to_the_qwen2_audio_layout_refuses_taps(tmp_path) -> None:
    from auricle.checkpoint import export_hf_qwen2_audio
    from auricle.errors import CheckpointError

    with pytest.raises(CheckpointError, match="tap_layers"):
        export_hf_qwen2_audio(_tapped([1]), tmp_path / "hf", audio_token_id=0)


def test_saved_model_reloads_with_its_taps_and_info_names_them(tmp_path) -> None:
    from auricle.checkpoint import load_checkpoint
    from auricle.checkpoint.info import checkpoint_info, format_info
    from auricle.checkpoint.save import save_checkpoint

    model = _tapped([0, 2])
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt").model
    assert loaded.cfg == model.cfg
    want = model.state_dict()
    assert all(torch.equal(t, want[k]) for k, t in loaded.state_dict().items())
    assert "taps after blocks [0, 2]" in format_info(checkpoint_info(tmp_path / "ckpt"))


@pytest.mark.parametrize("taps", [[], [0, 2]])
def test_pooled_output_of_the_whole_encoder_continues_to_the_same_embeddings(taps: list[int]) -> None:
    """A pooled cache stores the whole encoder's average-pooled states (before the norms) and their
    token counts; continuing from them gives the full encoder's audio embeddings."""
    model = _tapped(taps)
    mel, frames = _mel([200, 121, 64])
    with torch.no_grad():
        full = model.encode_audio(mel, frames)
        states, conv_len = model.encoder.hidden_states(mel, frames)
        pooled, tokens = model.encoder.pool_states(states, conv_len)
        resumed = model.encode_audio_from(pooled, tokens, model.cfg.encoder.n_layers, pooled=True)
    assert pooled.shape[-1] == model.cfg.encoder.pooled_dim
    for a, b in zip(full, resumed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
