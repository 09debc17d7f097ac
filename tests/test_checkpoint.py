"""Checkpoint loading, saving and export on tiny checkpoints written here in each official layout.

References: transformers' Qwen2AudioForConditionalGeneration for v2 (and for exported models), and
the AudioLM that produced the v1 weights for v1. Logits are compared in fp32 (relative error ≤ 1e-5).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

transformers = pytest.importorskip("transformers")

from reference_models import random_audio, rel_err, tiny_qwen2_audio_hf  # noqa: E402

from auricle.checkpoint import (  # noqa: E402
    checkpoint_info,
    detect_layout,
    export_hf_qwen2_audio,
    load_checkpoint,
    save_checkpoint,
)
from auricle.checkpoint.cli import main as cli_main  # noqa: E402
from auricle.checkpoint.keymap import auricle_to_qwen_audio  # noqa: E402
from auricle.errors import CheckpointError, ConfigError  # noqa: E402
from auricle.model import AudioLM, preset  # noqa: E402
from auricle.model.encoder import conv_lengths, pooled_lengths, sinusoids  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
V1_TOKENIZER = REPO.parent / "shared" / "data" / "qwen-audio-tokenizer"
AUDIO_ID = 990  # v2 <|AUDIO|> in the tiny vocabulary
V1_START, V1_PAD = 900, 902  # v1 <audio> (</audio> = 901) and [[[AUDIO:modality]]] in the tiny vocabulary


def features(audios: list[np.ndarray], n_mels: int) -> torch.Tensor:
    return transformers.WhisperFeatureExtractor(feature_size=n_mels)(
        audios, sampling_rate=16000, return_tensors="pt"
    ).input_features


def write_sharded(state: dict[str, torch.Tensor], folder: Path, n: int, fmt: str = "safetensors") -> None:
    """``state`` split into ``n`` shards with a Hugging Face index, as the Hub stores big models."""
    names = list(state)
    prefix, index = ("model", "model.safetensors.index.json")
    if fmt == "bin":
        prefix, index = ("pytorch_model", "pytorch_model.bin.index.json")
    weight_map = {}
    for i in range(n):
        file = f"{prefix}-{i + 1:05d}-of-{n:05d}.{fmt}"
        part = {k: state[k].contiguous() for k in names[i::n]}
        if fmt == "bin":
            torch.save(part, folder / file)
        else:
            save_file(part, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (folder / index).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))


# -------------------------------------------------------------------------------- v2 fixtures
def tiny_v2_hf(seed: int = 0):
    return tiny_qwen2_audio_hf(AUDIO_ID, seed=seed)


def hub_v2_config() -> dict:
    """A Qwen2-Audio config.json as transformers 4.x wrote it on the Hub (sparse, rope_theta on top)."""
    return {
        "architectures": ["Qwen2AudioForConditionalGeneration"],
        "audio_config": {
            "model_type": "qwen2_audio_encoder",
            "d_model": 64,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 128,
            "encoder_layers": 2,
            "num_mel_bins": 128,
        },
        "audio_token_index": AUDIO_ID,
        "ignore_index": -100,
        "model_type": "qwen2_audio",
        "text_config": {
            "model_type": "qwen2",
            "vocab_size": 1000,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "max_position_embeddings": 8192,
            "torch_dtype": "bfloat16",
        },
        "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0",
    }


def v2_inputs(n_mels: int = 128):
    """Two left-padded rows (one and two audios) with v2 placeholders, and features/frame counts."""
    audios = [random_audio(0.93, 1), random_audio(0.41, 2), random_audio(0.6, 3)]
    feats = features(audios, n_mels)
    frames = torch.tensor([-(-len(a) // 160) for a in audios])
    n_tok = pooled_lengths(conv_lengths(frames)).tolist()
    rows = [
        [11, 12, 991, *[AUDIO_ID] * n_tok[0], 992, 5, 6],
        [21, 991, *[AUDIO_ID] * n_tok[1], 992, 22, 991, *[AUDIO_ID] * n_tok[2], 992, 7],
    ]
    ids, att = left_pad(rows)
    return ids, att, feats, frames


def left_pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    att = torch.zeros(len(rows), width, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, width - len(row) :] = torch.tensor(row)
        att[r, width - len(row) :] = 1
    return ids, att


def hf_logits(hf, ids, att, feats, frames) -> torch.Tensor:
    with torch.no_grad():
        return hf(
            input_ids=ids,
            attention_mask=att,
            position_ids=(att.cumsum(-1) - 1).clamp(min=0),
            input_features=feats,
            feature_attention_mask=(torch.arange(3000)[None] < frames[:, None]).long(),
        ).logits


def our_logits(model: AudioLM, ids, att, feats, frames) -> torch.Tensor:
    with torch.no_grad():
        return model(ids, attention_mask=att, mel=feats, mel_frames=frames)


@pytest.fixture(scope="module")
def v2_ref():
    hf = tiny_v2_hf()
    ids, att, feats, frames = v2_inputs()
    return hf, (ids, att, feats, frames), hf_logits(hf, ids, att, feats, frames)


def test_v2_hub_layout_from_save_pretrained(tmp_path, v2_ref):
    hf, inputs, ref = v2_ref
    hf.save_pretrained(tmp_path, max_shard_size="300KB")  # 4.x Hub key names, several shards + index
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    assert detect_layout(tmp_path) == "qwen2-audio"
    loaded = load_checkpoint(tmp_path)
    assert loaded.layout == "qwen2-audio" and loaded.config.family == "qwen2-audio"
    assert loaded.config.audio_token_id == AUDIO_ID and loaded.config.encoder.n_mels == 128
    got = our_logits(loaded.model, *inputs)
    valid = inputs[1].bool()
    assert rel_err(got[valid], ref[valid]) <= 1e-5


def test_v2_runtime_names_and_hub_config(tmp_path, v2_ref):
    hf, inputs, ref = v2_ref
    write_sharded(hf.state_dict(), tmp_path, 3)  # transformers 5.x runtime names
    (tmp_path / "config.json").write_text(json.dumps(hub_v2_config()))
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [7, 8], "pad_token_id": 3}))
    loaded = load_checkpoint(tmp_path, dtype="float32")
    cfg = loaded.config
    assert (cfg.text.n_kv_heads, cfg.text.rms_norm_eps, cfg.text.rope_theta) == (2, 1e-6, 10000.0)
    assert (cfg.encoder.positions, cfg.encoder.length_rule, cfg.encoder.edge) == (
        "learned",
        "ceil",
        "pad_frames",
    )
    assert cfg.eos_token_ids == [7, 8] and cfg.pad_token_id == 3
    got = our_logits(loaded.model, *inputs)
    valid = inputs[1].bool()
    assert rel_err(got[valid], ref[valid]) <= 1e-5


def test_dtype_choices(tmp_path, v2_ref):
    hf, _, _ = v2_ref
    copy.deepcopy(hf).to(torch.bfloat16).save_pretrained(tmp_path)
    assert next(load_checkpoint(tmp_path).model.parameters()).dtype == torch.float32  # auto on CPU
    m = load_checkpoint(tmp_path, dtype="checkpoint").model
    assert {p.dtype for p in m.parameters()} == {torch.bfloat16}
    assert torch.equal(m.encoder.conv1.weight, hf.model.audio_tower.conv1.weight.to(torch.bfloat16))
    assert next(load_checkpoint(tmp_path, dtype=torch.float16).model.parameters()).dtype == torch.float16
    with pytest.raises(ConfigError, match="float64"):
        load_checkpoint(tmp_path, dtype="float64")


# -------------------------------------------------------------------------------- v1 fixtures
def tiny_v1_model(seed: int = 0, vocab: int = 1000) -> AudioLM:
    cfg = preset("tiny-qwen-audio")
    cfg = cfg.replace(
        encoder=dataclasses.replace(cfg.encoder, ffn_dim=4 * cfg.encoder.d_model),  # v1 has no ffn field: 4·d
        text=dataclasses.replace(cfg.text, vocab_size=vocab),
        audio_start_id=V1_START,
        audio_end_id=V1_START + 1,
    )
    torch.manual_seed(seed)
    model = AudioLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # fresh Linear biases and norms are too regular to catch mix-ups
            p.add_(torch.randn_like(p) * 0.05)
    return model


def v1_config(model: AudioLM) -> dict:
    """An official Qwen-Audio config.json (QWenConfig fields and the `audio` block)."""
    c, e = model.cfg.text, model.cfg.encoder
    return {
        "architectures": ["QWenLMHeadModel"],
        "auto_map": {
            "AutoConfig": "configuration_qwen.QWenConfig",
            "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel",
        },
        "attn_dropout_prob": 0.0,
        "bf16": False,
        "fp16": False,
        "fp32": False,
        "emb_dropout_prob": 0.0,
        "intermediate_size": 2 * c.intermediate_size,
        "initializer_range": 0.02,
        "kv_channels": c.head_dim,
        "layer_norm_epsilon": 1e-05,
        "model_type": "qwen",
        "hidden_size": c.hidden_size,
        "num_attention_heads": c.n_heads,
        "num_hidden_layers": c.n_layers,
        "max_position_embeddings": 8192,
        "no_bias": True,
        "onnx_safe": None,
        "rotary_emb_base": 10000,
        "rotary_pct": 1.0,
        "scale_attn_weights": True,
        "seq_length": 2048,
        "tie_word_embeddings": False,
        "tokenizer_type": "QWenTokenizer",
        "transformers_version": "4.31.0",
        "use_cache": True,
        "vocab_size": c.vocab_size,
        "use_dynamic_ntk": True,
        "use_logn_attn": True,
        "audio": {
            "n_mels": e.n_mels,
            "n_ctx": e.n_ctx,
            "n_state": e.d_model,
            "n_head": e.n_heads,
            "n_layer": e.n_layers,
            "output_dim": c.hidden_size,
            "avg_pool": True,
            "add_audio_bos_eos_token": True,
            "audio_start_id": model.cfg.audio_start_id,
        },
    }


def write_v1(model: AudioLM, folder: Path, fmt: str = "safetensors", dtype=torch.float32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    state = auricle_to_qwen_audio(model.state_dict())
    state["transformer.audio.positional_embedding"] = sinusoids(1500, model.cfg.encoder.d_model)
    write_sharded({k: v.to(dtype) for k, v in state.items()}, folder, 2, fmt)
    (folder / "config.json").write_text(json.dumps(v1_config(model), indent=2))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": 5, "pad_token_id": 5}))
    return folder


def v1_inputs():
    """Two left-padded rows with v1 spans <audio> PAD×N </audio>; v1 counts L // 160 mel frames."""
    audios = [random_audio(0.93, 1), random_audio(0.57, 2)]
    feats = features(audios, 80)
    frames = torch.tensor([len(a) // 160 for a in audios])
    n_tok = pooled_lengths(conv_lengths(frames)).tolist()
    rows = [
        [11, V1_START, *[V1_PAD] * n_tok[0], V1_START + 1, 12, 13],
        [V1_START, *[V1_PAD] * n_tok[1], V1_START + 1, 21],
    ]
    ids, att = left_pad(rows)
    return ids, att, feats, frames


@pytest.fixture(scope="module")
def v1_ref():
    model = tiny_v1_model()
    inputs = v1_inputs()
    return model, inputs, our_logits(model, *inputs)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_v1_official_layout(tmp_path, v1_ref, fmt):
    model, inputs, ref = v1_ref
    write_v1(model, tmp_path, fmt)
    loaded = load_checkpoint(tmp_path)
    cfg = loaded.config
    assert loaded.layout == "qwen-audio" and cfg.family == "qwen-audio"
    assert (cfg.text.intermediate_size, cfg.text.dynamic_ntk, cfg.text.logn_attn) == (128, True, True)
    assert (cfg.audio_start_id, cfg.audio_end_id, cfg.eos_token_ids) == (V1_START, V1_START + 1, [5])
    assert cfg.encoder.positions == "sinusoid" and cfg.audio_boundary == "learned"
    for name, t in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], t), name
    got = our_logits(loaded.model, *inputs)
    valid = inputs[1].bool()
    assert rel_err(got[valid], ref[valid]) <= 1e-5


def test_v1_bf16_checkpoint_keeps_values(tmp_path, v1_ref):
    model, _, _ = v1_ref
    write_v1(model, tmp_path, dtype=torch.bfloat16)
    m = load_checkpoint(tmp_path, dtype="checkpoint").model
    assert torch.equal(m.text.layers[1].attn.k.bias, model.text.layers[1].attn.k.bias.to(torch.bfloat16))
    assert m.encoder.positions.dtype == torch.bfloat16


def test_v1_wrong_position_table_is_refused(tmp_path, v1_ref):
    model, _, _ = v1_ref
    write_v1(model, tmp_path)
    weight_map = json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"]
    shard = tmp_path / weight_map["transformer.audio.positional_embedding"]
    state = load_file(shard)
    state["transformer.audio.positional_embedding"] = torch.randn(1500, 64)
    save_file(state, str(shard))
    with pytest.raises(CheckpointError, match="sinusoid"):
        load_checkpoint(tmp_path)


# -------------------------------------------------------------------------------- errors
def test_missing_unexpected_and_misshaped_tensors_are_named(tmp_path, v2_ref):
    hf, _, _ = v2_ref
    state = {k: v.clone() for k, v in hf.state_dict().items()}
    del state["model.language_model.layers.1.mlp.up_proj.weight"]
    state["model.language_model.layers.0.self_attn.q_proj.weight"] = torch.zeros(32, 64)
    state["model.extra.weight"] = torch.zeros(3)
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(hub_v2_config()))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path)
    msg = str(err.value)
    assert "1 missing (language_model.model.layers.1.mlp.up_proj.weight)" in msg
    assert "1 unexpected (model.extra.weight)" in msg
    assert "model.language_model.layers.0.self_attn.q_proj.weight: checkpoint [32, 64], model [64, 64]" in msg
    assert "config.json belongs to these weights" in msg


def test_many_missing_tensors_are_counted(tmp_path, v1_ref):
    model, _, _ = v1_ref
    write_v1(model, tmp_path)
    weight_map = json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"]
    lost = {k for k, f in weight_map.items() if f.startswith("model-00002") and "positional" not in k}
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"1 are missing .*model-00002-of-00002"):
        load_checkpoint(tmp_path)
    state = load_file(tmp_path / "model-00001-of-00002.safetensors")
    save_file(state, str(tmp_path / "model-00002-of-00002.safetensors"))  # shard 2 = copy of shard 1
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path)
    m = re.search(r"(\d+) missing \((.*?) and (\d+) more\)", str(err.value))
    assert int(m[1]) == len(lost) and int(m[3]) == len(lost) - 5
    assert set(m[2].split(", ")) <= lost


def test_unknown_folders(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="not a known audio-LM layout"):
        detect_layout(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(CheckpointError, match="build_from_parts"):
        detect_layout(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(hub_v2_config()))
    with pytest.raises(CheckpointError, match="no weights found"):
        load_checkpoint(tmp_path)


# -------------------------------------------------------------------------------- our layout
def test_auricle_layout_roundtrip_sharded_with_tokenizer(tmp_path, v1_ref):
    model, inputs, ref = v1_ref
    tok = tmp_path / "tok"
    tok.mkdir()
    for name in ("qwen.tiktoken", "tokenizer_config.json", "generation_config.json"):
        (tok / name).write_text(name)
    out = save_checkpoint(model, tmp_path / "ckpt", shard_size="300KB", tokenizer_folder=tok)
    c = json.loads((out / "config.json").read_text())
    assert c["format"] == "auricle" and c["family"] == "qwen-audio" and c["dtype"] == "float32"
    assert (
        len(list(out.glob("model-*-of-*.safetensors"))) > 2
        and (out / "model.safetensors.index.json").exists()
    )
    assert all((out / n).read_text() == n for n in ("qwen.tiktoken", "tokenizer_config.json"))
    loaded = load_checkpoint(out)
    assert loaded.layout == "auricle" and loaded.config == model.cfg
    got = our_logits(loaded.model, *inputs)
    assert torch.equal(got, ref)
    # re-saving into the same folder with fewer shards, while the model still maps the old files
    save_checkpoint(loaded.model, out, dtype="bfloat16")
    assert sorted(p.name for p in out.glob("model*.safetensors")) == ["model.safetensors"]
    assert not (out / "model.safetensors.index.json").exists()
    again = load_checkpoint(out, dtype="float32").model
    assert rel_err(our_logits(again, *inputs)[inputs[1].bool()], ref[inputs[1].bool()]) < 0.05


def test_tied_embeddings_roundtrip(tmp_path):
    cfg = preset("tiny-qwen2-audio")
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, vocab_size=500, tie_embeddings=True))
    torch.manual_seed(0)
    model = AudioLM(cfg).eval()
    save_checkpoint(model, tmp_path)
    assert "lm_head.weight" not in load_file(tmp_path / "model.safetensors")
    m = load_checkpoint(tmp_path).model
    assert m.lm_head.weight is m.text.embed.weight
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(m(ids), model(ids))


# -------------------------------------------------------------------------------- HF export
def test_export_v2_loads_in_transformers(tmp_path, v2_ref):
    hf, inputs, ref = v2_ref
    hf.save_pretrained(tmp_path / "src")
    out = export_hf_qwen2_audio(tmp_path / "src", tmp_path / "hf")
    back = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(out, dtype=torch.float32).eval()
    got = hf_logits(back, *inputs)
    valid = inputs[1].bool()
    assert rel_err(got[valid], ref[valid]) <= 1e-5
    assert json.loads((out / "preprocessor_config.json").read_text())["feature_size"] == 128


def v1_hf_features(feats: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What an HF caller passes to reproduce v1: L//160 frames in the mask, mel zeroed from 2·C on."""
    conv = conv_lengths(frames)
    keep = torch.arange(3000)[None] < 2 * conv[:, None]
    return feats * keep[:, None, :], (torch.arange(3000)[None] < frames[:, None]).long()


def hf_v1_logits(folder: Path, ids, att, feats, frames) -> torch.Tensor:
    hf = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    mel, mask = v1_hf_features(feats, frames)
    with torch.no_grad():
        return hf(
            input_ids=ids,
            attention_mask=att,
            position_ids=(att.cumsum(-1) - 1).clamp(min=0),
            input_features=mel,
            feature_attention_mask=mask,
        ).logits


def test_export_v1_runs_in_transformers_with_v1_logits(tmp_path, v1_ref):
    model, (ids, att, feats, frames), ref = v1_ref
    out = export_hf_qwen2_audio(model, tmp_path / "hf", audio_token_id=V1_PAD)
    c = json.loads((out / "config.json").read_text())
    assert c["model_type"] == "qwen2_audio" and c["audio_token_index"] == V1_PAD
    assert c["audio_config"]["num_mel_bins"] == 80 and c["auricle"]["family"] == "qwen-audio"
    valid = att.bool()
    assert rel_err(hf_v1_logits(out, ids, att, feats, frames)[valid], ref[valid]) <= 1e-5
    # auricle reads the export back as a v2-layout model (<audio>/</audio> rows now in the embedding)
    back = load_checkpoint(out)
    assert back.layout == "qwen2-audio" and back.config.audio_token_id == V1_PAD
    mel, _ = v1_hf_features(feats, frames)
    assert rel_err(our_logits(back.model, ids, att, mel, frames)[valid], ref[valid]) <= 1e-5


def test_export_tied_learned_boundary_unties_the_head(tmp_path):
    model = tiny_v1_model(seed=1)
    model.cfg.text.tie_embeddings = True
    model.lm_head.weight = model.text.embed.weight
    ids, att, feats, frames = v1_inputs()
    ref = our_logits(model, ids, att, feats, frames)
    out = export_hf_qwen2_audio(model, tmp_path / "hf", audio_token_id=V1_PAD)
    assert json.loads((out / "config.json").read_text())["text_config"]["tie_word_embeddings"] is False
    valid = att.bool()
    assert rel_err(hf_v1_logits(out, ids, att, feats, frames)[valid], ref[valid]) <= 1e-5


def test_export_v1_default_pad_id_needs_full_vocabulary(tmp_path, v1_ref):
    model, _, _ = v1_ref
    with pytest.raises(CheckpointError, match="151851 is outside the vocabulary"):
        export_hf_qwen2_audio(model, tmp_path / "hf")


@pytest.mark.skipif(not V1_TOKENIZER.is_dir(), reason="shared/data/qwen-audio-tokenizer is absent")
def test_convert_cli_v1_to_auricle_and_hf_keeps_tokenizer_files(tmp_path, v1_ref):
    model, inputs, ref = v1_ref
    src = write_v1(model, tmp_path / "v1")
    for name in ("qwen.tiktoken", "tokenizer_config.json", "mel_filters.npz"):
        (src / name).write_bytes((V1_TOKENIZER / name).read_bytes())
    assert (
        cli_main(["convert", str(src), str(tmp_path / "ours"), "--to", "auricle", "--shard-size", "300KB"])
        == 0
    )
    assert (tmp_path / "ours" / "qwen.tiktoken").read_bytes() == (V1_TOKENIZER / "qwen.tiktoken").read_bytes()
    assert torch.equal(our_logits(load_checkpoint(tmp_path / "ours").model, *inputs), ref)
    code = cli_main(
        [
            "convert",
            str(tmp_path / "ours"),
            str(tmp_path / "hf"),
            "--to",
            "hf-qwen2-audio",
            "--audio-token-id",
            str(V1_PAD),
        ]
    )
    assert code == 0 and (tmp_path / "hf" / "generation_config.json").exists()
    assert json.loads((tmp_path / "hf" / "generation_config.json").read_text())["eos_token_id"] == 5
    info = checkpoint_info(tmp_path / "hf")
    assert info.layout == "qwen2-audio" and "qwen.tiktoken" in info.side_files


def test_info_cli(tmp_path, v1_ref, capsys):
    model, _, _ = v1_ref
    write_v1(model, tmp_path)
    run = subprocess.run(  # the real entry point once, as a user runs it
        [sys.executable, "-m", "auricle.checkpoint.cli", "info", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "layout      qwen-audio (family qwen-audio)" in run.stdout
    assert "text        2 layers, hidden 64, 4 heads / 4 kv heads, ffn 128, vocab 1000" in run.stdout
    assert "model-00001-of-00002.safetensors" in run.stdout
    assert cli_main(["info", "--json", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == model.num_parameters()
    assert info["dtypes"] == {"float32": model.num_parameters() + 1500 * 64}  # + the stored sinusoid table
    assert cli_main(["info", str(tmp_path / "nope")]) == 1
    assert "auricle: error:" in capsys.readouterr().err
