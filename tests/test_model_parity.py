"""Parity of auricle's model against transformers (the reference), same random weights, fp32.

Weights are copied through the production key maps in auricle.checkpoint.keymap, so these tests
also check the maps. Tolerance: relative error ≤ 1e-5 on logits and encoder states. The ``device``-parametrised tests run
on CUDA too where there is a GPU (TF32 off: tests/conftest.py), with the same bar; bf16 on CUDA is checked at the end.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from reference_models import DEVICES, random_audio, rel_err, tiny_qwen2_audio_hf  # noqa: E402

from auricle.checkpoint.keymap import _ENCODER_V2, QWEN2_AUDIO_RUNTIME, QWEN2_LM, convert  # noqa: E402
from auricle.model import AudioLM, preset  # noqa: E402
from auricle.model.encoder import AudioEncoder, conv_lengths, pooled_lengths  # noqa: E402

AUDIO_ID = 990  # <|AUDIO|> inside the tiny vocabulary


def tiny_v2_pair(n_kv_heads: int = 2, seed: int = 0):
    """A tiny HF Qwen2AudioForConditionalGeneration and our AudioLM with the same weights."""
    hf = tiny_qwen2_audio_hf(AUDIO_ID, n_kv_heads=n_kv_heads, seed=seed)
    cfg = preset("tiny-qwen2-audio")
    cfg = cfg.replace(
        text=dataclasses.replace(cfg.text, vocab_size=1000, n_kv_heads=n_kv_heads, rms_norm_eps=1e-6),
        audio_token_id=AUDIO_ID,
    )
    ours = AudioLM(cfg).eval()
    state, unmatched = convert(hf.state_dict(), QWEN2_AUDIO_RUNTIME)
    assert not unmatched, unmatched
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    return hf, ours


def whisper_features(audios: list[np.ndarray], n_mels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference 30 s features [B, n_mels, 3000] and the v2 frame counts ceil(L/160)."""
    fe = transformers.WhisperFeatureExtractor(feature_size=n_mels)
    out = fe(audios, sampling_rate=16000, return_tensors="pt")
    return out.input_features, torch.tensor([-(-len(a) // 160) for a in audios])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seconds", [[1.0], [0.73], [2.2, 0.5, 1.30625]])
def test_v2_encoder_matches_transformers_on_real_lengths(seconds, device):
    hf, ours = (m.to(device) for m in tiny_v2_pair())
    audios = [random_audio(s, i) for i, s in enumerate(seconds)]
    feats, frames = whisper_features(audios, 128)
    feats, frames = feats.to(device), frames.to(device)
    assert frames.tolist() == [int(np.ceil(len(a) / 160)) for a in audios]
    conv = conv_lengths(frames)
    c_max = int(conv.max())
    mask = (torch.arange(1500, device=device)[None] < conv[:, None]).long()
    dummy = torch.zeros(len(audios), 1500, 1, device=device)
    bidir = transformers.masking_utils.create_bidirectional_mask(
        config=hf.config.audio_config, inputs_embeds=dummy, attention_mask=mask
    )
    with torch.no_grad():
        ref = hf.model.audio_tower(feats, attention_mask=bidir).last_hidden_state
        # ours runs only the frames it needs (trimmed), not 3000
        got, n_tok = ours.encoder(feats[..., : 2 * c_max + 1].contiguous(), frames)
    assert n_tok.tolist() == pooled_lengths(conv).tolist()
    for i, n in enumerate(n_tok.tolist()):
        assert rel_err(got[i, :n], ref[i, :n]) <= 1e-5


def v2_prompt(n_tokens: list[int], texts: list[list[int]]) -> list[int]:
    """ids: text, then per audio [bos-ish token, AUDIO × n, eos-ish token]."""
    ids: list[int] = []
    for n, t in zip(n_tokens, texts):
        ids += t + [991] + [AUDIO_ID] * n + [992]
    return ids + [5, 6, 7]


def v2_logits(hf, ours, device: str = "cpu", dtype: torch.dtype = torch.float32, autocast: bool = False):
    """Reference and our logits on one left-padded batch (row 0: one odd-length audio; row 1: two
    audios in one prompt), with the mask of the real positions. Ours may run in another ``dtype``
    or under bf16 ``autocast``."""
    audios = [random_audio(0.93, 1), random_audio(0.41, 2), random_audio(0.6, 3)]
    feats, frames = whisper_features(audios, 128)
    n_tok = pooled_lengths(conv_lengths(frames)).tolist()
    rows = [v2_prompt(n_tok[:1], [[11, 12, 13]]), v2_prompt(n_tok[1:], [[21], [22, 23]])]
    width = max(map(len, rows))
    ids = torch.full((2, width), 0)
    att = torch.zeros(2, width, dtype=torch.long)
    for r, row in enumerate(rows):  # left padding
        ids[r, width - len(row) :] = torch.tensor(row)
        att[r, width - len(row) :] = 1
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    ids, att, pos, feats, frames = (t.to(device) for t in (ids, att, pos, feats, frames))
    with torch.no_grad():
        ref = hf(
            input_ids=ids,
            attention_mask=att,
            position_ids=pos,
            input_features=feats,
            feature_attention_mask=(torch.arange(3000, device=device)[None] < frames[:, None]).long(),
        ).logits
        mel = feats[..., :1000].contiguous().to(dtype)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
            got = ours.to(dtype)(ids, attention_mask=att, mel=mel, mel_frames=frames)
    return got.float(), ref, att.bool()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_kv_heads", [4, 2])
def test_v2_full_model_logits_match(n_kv_heads, device):
    hf, ours = (m.to(device) for m in tiny_v2_pair(n_kv_heads=n_kv_heads))
    got, ref, valid = v2_logits(hf, ours, device)
    assert rel_err(got[valid], ref[valid]) <= 1e-5
    assert torch.equal(got[valid].argmax(-1), ref[valid].argmax(-1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_kv_heads", [4, 1])
def test_text_decoder_matches_qwen2_causal_lm(n_kv_heads, device):
    torch.manual_seed(1)
    hf_cfg = transformers.Qwen2Config(
        vocab_size=500,
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=n_kv_heads,
        intermediate_size=96,
        rms_norm_eps=1e-6,
    )
    hf = transformers.Qwen2ForCausalLM(hf_cfg).eval()
    cfg = preset("tiny-qwen2-audio")
    cfg = cfg.replace(
        text=dataclasses.replace(
            cfg.text,
            vocab_size=500,
            n_layers=3,
            n_kv_heads=n_kv_heads,
            intermediate_size=96,
            rms_norm_eps=1e-6,
        )
    )
    ours = AudioLM(cfg).eval()
    state, unmatched = convert(hf.state_dict(), QWEN2_LM)
    assert not unmatched
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected and all(not k.startswith(("text.", "lm_head")) for k in missing)
    hf, ours = hf.to(device), ours.to(device)
    ids = torch.randint(0, 500, (3, 17))
    att = torch.ones_like(ids)
    att[1, :5] = 0
    att[2, :9] = 0
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    ids, att, pos = ids.to(device), att.to(device), pos.to(device)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=att, position_ids=pos).logits
        got = ours(ids, attention_mask=att)
    valid = att.bool()
    assert rel_err(got[valid], ref[valid]) <= 1e-5
    # a padded row equals the same row run alone
    with torch.no_grad():
        alone = ours(ids[2:, 9:])
    assert rel_err(got[2, 9:], alone[0]) <= 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_v1_encoder_matches_whisper_encoder_on_30s(device):
    """v1's encoder is Whisper's: on a full 30 s input the pre-pool states equal WhisperEncoder's."""
    torch.manual_seed(2)
    wcfg = transformers.WhisperConfig(
        d_model=64,
        encoder_attention_heads=4,
        encoder_layers=2,
        encoder_ffn_dim=128,
        num_mel_bins=80,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        vocab_size=100,
        pad_token_id=1,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    ref_enc = transformers.WhisperModel(wcfg).encoder.eval()
    cfg = preset("tiny-qwen-audio").encoder
    ours = AudioEncoder(cfg).eval()
    sd = {k.removeprefix("model.encoder."): v for k, v in ref_enc.state_dict().items()}
    mapped, unmatched = convert(
        {"audio_tower." + k: v for k, v in sd.items()},
        [(a, b.removeprefix("encoder.")) for a, b in _ENCODER_V2],
    )
    assert unmatched == [] or unmatched == ["audio_tower.embed_positions.weight"]
    assert torch.allclose(sd["embed_positions.weight"], ours.positions, atol=1e-6)  # both sinusoids
    ours.load_state_dict({k: v for k, v in mapped.items() if k != "positions"}, strict=False)
    ref_enc, ours = ref_enc.to(device), ours.to(device)
    feats = whisper_features([random_audio(30.0, 4)], 80)[0].to(device)
    with torch.no_grad():
        ref = ref_enc(feats).last_hidden_state  # Whisper applies its final LayerNorm per position
        states, conv_len = ours.hidden_states(feats, torch.tensor([3000], device=device))
        got = ours.final_norm(states)
    assert conv_len.tolist() == [1500]
    assert rel_err(got, ref) <= 1e-5


def test_v1_encoder_short_audio_follows_official_truncation():
    """Official v1: the mel is cut at 2·C frames and conv zero-pads; a batch must not change an item."""
    torch.manual_seed(3)
    enc = AudioEncoder(preset("tiny-qwen-audio").encoder).eval()
    torch.nn.init.normal_(enc.conv1.bias, std=1.0)
    mel = torch.randn(2, 80, 300)
    frames = torch.tensor([201, 130])  # odd frame count: conv len 101, the truncation point matters
    with torch.no_grad():
        batch, n = enc(mel, frames)
        for i in range(2):
            c = int(conv_lengths(frames[i : i + 1]))
            alone, n1 = enc(mel[i : i + 1, :, : 2 * c], frames[i : i + 1])  # exactly the official input
            assert n1.item() == n[i].item() == (c - 2) // 2 + 1
            assert rel_err(batch[i, : n[i]], alone[0]) <= 1e-5


def test_v1_audio_spans_get_learned_bos_eos():
    torch.manual_seed(4)
    cfg = preset("tiny-qwen-audio")
    model = AudioLM(cfg).eval()
    mel = torch.randn(1, 80, 120)
    frames = torch.tensor([100])  # 1 s -> 25 tokens
    (emb,) = model.encode_audio(mel, frames)
    assert emb.shape == (27, 64)
    ids = torch.tensor([[5, cfg.audio_start_id] + [151851] * 25 + [cfg.audio_end_id, 7]])
    with torch.no_grad():
        e = model.embed_inputs(ids, [emb])
    assert torch.equal(e[0, 1], model.audio_bos_eos.weight[0])
    assert torch.equal(e[0, 27], model.audio_bos_eos.weight[1])
    bad = torch.tensor([[5, cfg.audio_start_id] + [151851] * 20 + [cfg.audio_end_id]])
    with pytest.raises(ValueError, match="span holds"):
        model.embed_inputs(bad, [emb])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs_and_agrees_roughly(dtype):
    torch.manual_seed(5)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        ref = model(ids)
        got = model.to(dtype)(ids)
    assert got.dtype == dtype
    assert torch.isfinite(got).all()
    assert rel_err(got.float(), ref) < 0.05


def test_encoder_resumes_from_cached_intermediate_states():
    """Training caches states after the frozen blocks; continuing from them gives the same output."""
    torch.manual_seed(6)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    mel = torch.randn(2, 80, 160)
    frames = torch.tensor([150, 97])
    with torch.no_grad():
        full = model.encode_audio(mel, frames)
        states, conv_len = model.encoder.hidden_states(mel, frames, stop_layer=1)
        resumed = model.encode_audio_from(states, conv_len, start_layer=1)
    for a, b in zip(full, resumed):
        assert torch.equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_on_cuda_stays_close_to_the_fp32_reference(dtype):
    """Ours in bf16/fp16 on CUDA (flash or memory-efficient attention, left padding, two audios in a
    row) against transformers in fp32: bf16 keeps 8 bits of mantissa, so ≈ 1e-2 relative error."""
    hf, ours = (m.to("cuda") for m in tiny_v2_pair())
    got, ref, valid = v2_logits(hf, ours, "cuda", dtype)
    err = rel_err(got[valid], ref[valid])
    assert err <= (2e-2 if dtype == torch.bfloat16 else 5e-3), err
    agree = (got[valid].argmax(-1) == ref[valid].argmax(-1)).float().mean().item()
    assert agree >= 0.9, agree


def test_bf16_autocast_stays_close_to_the_fp32_reference():
    """Under bf16 autocast (how the recipes train, on CPUs too) the decoder builds its attention mask
    and RoPE tables in the autocast dtype; the logits stay near the fp32 reference's and backward runs."""
    hf, ours = tiny_v2_pair()
    got, ref, valid = v2_logits(hf, ours, autocast=True)
    assert rel_err(got[valid], ref[valid]) <= 2e-2
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = ours(ids).float().logsumexp(-1).mean()
    loss.backward()
    grads = [p.grad for p in ours.text.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
