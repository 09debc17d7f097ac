"""build_from_parts: a Whisper encoder + a Qwen2 / Qwen v1 LLM + a fresh projector."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

transformers = pytest.importorskip("transformers")

from auricle.checkpoint import build_from_parts, load_checkpoint, read_whisper, save_checkpoint  # noqa: E402
from auricle.checkpoint.keymap import auricle_to_qwen_audio  # noqa: E402
from auricle.errors import CheckpointError, ConfigError  # noqa: E402
from auricle.model import AudioLM, preset  # noqa: E402


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.WhisperConfig(
        d_model=32,
        encoder_attention_heads=2,
        encoder_layers=2,
        encoder_ffn_dim=64,
        decoder_attention_heads=2,
        decoder_layers=1,
        decoder_ffn_dim=64,
        num_mel_bins=80,
    )
    folder = tmp_path_factory.mktemp("whisper")
    transformers.WhisperForConditionalGeneration(cfg).save_pretrained(folder)
    return folder


def qwen2_dir(root, tie: bool = False):
    torch.manual_seed(1)
    cfg = transformers.Qwen2Config(
        vocab_size=500,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=96,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tie,
        eos_token_id=7,
    )
    lm = transformers.Qwen2ForCausalLM(cfg).eval()
    lm.save_pretrained(root)
    (root / "generation_config.json").write_text(json.dumps({"eos_token_id": [7, 8], "pad_token_id": 9}))
    return lm


def test_whisper_plus_qwen2(tmp_path, whisper_dir):
    lm = qwen2_dir(tmp_path / "lm")
    model = build_from_parts(whisper_dir, tmp_path / "lm", audio_start_id=400, audio_end_id=401)
    cfg = model.cfg
    assert cfg.family == "auricle" and cfg.audio_boundary == "learned" and cfg.prompt_style == "qwen-audio"
    assert (cfg.encoder.d_model, cfg.text.hidden_size, cfg.text.n_kv_heads) == (32, 64, 2)
    assert cfg.eos_token_ids == [7, 8] and cfg.pad_token_id == 9 and cfg.audio_start_id == 400
    whisper = read_whisper(whisper_dir)
    for name, t in whisper.encoder_state.items():
        assert torch.equal(model.encoder.get_parameter(name), t.float()), name
    ids = torch.randint(0, 400, (2, 9))
    with torch.no_grad():
        assert rel_err(model(ids), lm(input_ids=ids).logits) <= 1e-5
    rms = model.text.embed.weight.detach().pow(2).mean().sqrt()
    std = model.projector.weight.detach().std() * 32**0.5
    assert abs(float(std / rms) - 1) < 0.1 and not model.projector.bias.any()
    assert abs(float(model.audio_bos_eos.weight.detach().std() / rms) - 1) < 0.3
    # the audio path runs, and the model round-trips through auricle's own layout
    mel, frames = torch.randn(1, 80, 200), torch.tensor([200])
    ids = torch.tensor([[5, 400, *[3] * 50, 401, 6]])
    with torch.no_grad():
        logits = model(ids, mel=mel, mel_frames=frames)
    save_checkpoint(model, tmp_path / "ours")
    with torch.no_grad():
        assert torch.equal(load_checkpoint(tmp_path / "ours").model(ids, mel=mel, mel_frames=frames), logits)


def test_seed_makes_new_parts_reproducible(tmp_path, whisper_dir):
    qwen2_dir(tmp_path / "lm")
    a = build_from_parts(whisper_dir, tmp_path / "lm", seed=3)
    b = build_from_parts(whisper_dir, tmp_path / "lm", seed=3)
    c = build_from_parts(whisper_dir, tmp_path / "lm", seed=4)
    assert torch.equal(a.projector.weight, b.projector.weight)
    assert not torch.equal(a.projector.weight, c.projector.weight)


def test_whisper_plus_qwen_v1_llm(tmp_path, whisper_dir):
    cfg = preset("tiny-qwen-audio")
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, vocab_size=300))
    torch.manual_seed(2)
    ref = AudioLM(cfg).eval()
    state = {
        k: v
        for k, v in auricle_to_qwen_audio(ref.state_dict()).items()
        if not k.startswith("transformer.audio.")
    }
    folder = tmp_path / "qwen-7b"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    c = cfg.text
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "qwen",
                "architectures": ["QWenLMHeadModel"],
                "vocab_size": c.vocab_size,
                "hidden_size": c.hidden_size,
                "num_hidden_layers": c.n_layers,
                "num_attention_heads": c.n_heads,
                "kv_channels": c.head_dim,
                "intermediate_size": 2 * c.intermediate_size,
                "layer_norm_epsilon": 1e-5,
                "rotary_emb_base": 10000,
                "rotary_pct": 1.0,
                "seq_length": 2048,
                "use_dynamic_ntk": True,
                "use_logn_attn": True,
                "no_bias": True,
                "tie_word_embeddings": False,
            }
        )
    )
    model = build_from_parts(whisper_dir, folder, vocab_size=320)
    assert model.cfg.text.dynamic_ntk and model.cfg.text.rope_in_fp32 and model.cfg.text.vocab_size == 320
    assert model.text.embed.weight.shape == (320, 64) and model.lm_head.weight.shape == (320, 64)
    assert torch.equal(model.text.embed.weight[:300], ref.text.embed.weight)
    assert torch.equal(model.text.layers[1].attn.k.bias, ref.text.layers[1].attn.k.bias)
    ids = torch.randint(0, 300, (1, 7))
    with torch.no_grad():
        assert rel_err(model(ids)[..., :300], ref(ids)) <= 1e-5
        assert model(torch.tensor([[310, 319]])).shape == (1, 2, 320)


def test_fresh_llm_and_tied_growth(tmp_path, whisper_dir):
    text = dataclasses.replace(preset("tiny-qwen2-audio").text, vocab_size=200, tie_embeddings=True)
    model = build_from_parts(whisper_dir, llm_config=text, audio_boundary="tokens", vocab_size=210)
    assert model.lm_head.weight is model.text.embed.weight and model.cfg.text.vocab_size == 210
    assert not hasattr(model, "audio_bos_eos")
    qwen2_dir(tmp_path / "tied", tie=True)
    tied = build_from_parts(whisper_dir, tmp_path / "tied", dtype=torch.bfloat16)
    assert tied.lm_head.weight is tied.text.embed.weight
    assert {p.dtype for p in tied.parameters()} == {torch.bfloat16}


def test_bad_parts(tmp_path, whisper_dir):
    text = preset("tiny-qwen2-audio").text
    with pytest.raises(ConfigError, match="exactly one of llm_path"):
        build_from_parts(whisper_dir)
    with pytest.raises(ConfigError, match="exactly one of llm_path"):
        build_from_parts(whisper_dir, whisper_dir, llm_config=text)
    with pytest.raises(CheckpointError, match="model_type='whisper'"):
        build_from_parts(whisper_dir, whisper_dir)
    with pytest.raises(ConfigError, match="can only grow"):
        build_from_parts(whisper_dir, llm_config=dataclasses.replace(text, vocab_size=100), vocab_size=50)
