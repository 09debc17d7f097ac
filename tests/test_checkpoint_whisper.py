"""Whisper readers: one tiny random Whisper written here in all three layouts must read identically.

The openai ``.pt`` and CTranslate2 ``model.bin`` files are produced by small writers in this file
(independent of auricle's key maps), from a tiny transformers WhisperForConditionalGeneration.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from auricle.checkpoint import detect_whisper_layout, read_whisper, whisper_to_hf  # noqa: E402
from auricle.checkpoint.cli import main as cli_main  # noqa: E402
from auricle.checkpoint.whisper import find_packaged_whisper  # noqa: E402
from auricle.errors import CheckpointError, ConfigError  # noqa: E402

D, HEADS, LAYERS, VOCAB = 64, 4, 2, 51865  # a real multilingual vocabulary size: special ids are valid


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def tiny_whisper(seed: int = 0):
    torch.manual_seed(seed)
    cfg = transformers.WhisperConfig(
        d_model=D,
        encoder_attention_heads=HEADS,
        encoder_layers=LAYERS,
        encoder_ffn_dim=4 * D,
        decoder_attention_heads=HEADS,
        decoder_layers=LAYERS,
        decoder_ffn_dim=4 * D,
        num_mel_bins=80,
        vocab_size=VOCAB,
    )
    model = transformers.WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" not in name:  # keep the sinusoids; perturb the too-regular norms/biases
                p.add_(torch.randn_like(p) * 0.05)
    return model


DIMS = {
    "n_mels": 80,
    "n_vocab": VOCAB,
    "n_audio_ctx": 1500,
    "n_audio_state": D,
    "n_audio_head": HEADS,
    "n_audio_layer": LAYERS,
    "n_text_ctx": 448,
    "n_text_state": D,
    "n_text_head": HEADS,
    "n_text_layer": LAYERS,
}

_OPENAI_PARTS = [
    ("encoder_attn_layer_norm", "cross_attn_ln"),
    ("self_attn_layer_norm", "attn_ln"),
    ("final_layer_norm", "mlp_ln"),
    ("encoder_attn.", "cross_attn."),
    ("self_attn.", "attn."),
    ("q_proj", "query"),
    ("k_proj", "key"),
    ("v_proj", "value"),
    ("out_proj", "out"),
    ("fc1", "mlp.0"),
    ("fc2", "mlp.2"),
]


def openai_name(hf: str) -> str:
    top = {
        "model.encoder.embed_positions.weight": "encoder.positional_embedding",
        "model.decoder.embed_positions.weight": "decoder.positional_embedding",
        "model.decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    }
    if hf in top:
        return top[hf]
    name = hf.removeprefix("model.")
    name = re.sub(r"^encoder\.layer_norm\.", "encoder.ln_post.", name)
    name = re.sub(r"^decoder\.layer_norm\.", "decoder.ln.", name)
    name = re.sub(r"^(encoder|decoder)\.layers\.", r"\1.blocks.", name)
    for a, b in _OPENAI_PARTS:
        name = name.replace(a, b)
    return name


def write_openai(model, path: Path) -> Path:
    state = {openai_name(k): v for k, v in model.state_dict().items() if k != "proj_out.weight"}
    torch.save({"dims": DIMS, "model_state_dict": state}, path)
    return path


def ct2_variables(model, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The tensors of a CTranslate2 WhisperSpec: fused q/k/v with zero key bias, gamma/beta norms."""
    s = {k: v.detach() for k, v in model.state_dict().items()}
    out: dict[str, torch.Tensor] = {}

    def norm(ct2: str, hf: str) -> None:
        out[ct2 + "/gamma"], out[ct2 + "/beta"] = s[hf + ".weight"], s[hf + ".bias"]

    def linear(ct2: str, hf: str) -> None:
        out[ct2 + "/weight"], out[ct2 + "/bias"] = s[hf + ".weight"], s[hf + ".bias"]

    for side in ("encoder", "decoder"):
        for i in range(LAYERS):
            c, h = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            a = h + ".self_attn."
            norm(c + "/self_attention/layer_norm", h + ".self_attn_layer_norm")
            out[c + "/self_attention/linear_0/weight"] = torch.cat([s[a + x + "_proj.weight"] for x in "qkv"])
            zero = torch.zeros(D)
            out[c + "/self_attention/linear_0/bias"] = torch.cat(
                [s[a + "q_proj.bias"], zero, s[a + "v_proj.bias"]]
            )
            linear(c + "/self_attention/linear_1", a + "out_proj")
            norm(c + "/ffn/layer_norm", h + ".final_layer_norm")
            linear(c + "/ffn/linear_0", h + ".fc1")
            linear(c + "/ffn/linear_1", h + ".fc2")
            if side == "decoder":
                x = h + ".encoder_attn."
                norm(c + "/attention/layer_norm", h + ".encoder_attn_layer_norm")
                linear(c + "/attention/linear_0", x + "q_proj")
                out[c + "/attention/linear_1/weight"] = torch.cat(
                    [s[x + "k_proj.weight"], s[x + "v_proj.weight"]]
                )
                out[c + "/attention/linear_1/bias"] = torch.cat([torch.zeros(D), s[x + "v_proj.bias"]])
                linear(c + "/attention/linear_2", x + "out_proj")
    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    out["encoder/position_encodings/encodings"] = s["model.encoder.embed_positions.weight"]
    norm("encoder/layer_norm", "model.encoder.layer_norm")
    out["decoder/embeddings/weight"] = s["model.decoder.embed_tokens.weight"]
    out["decoder/position_encodings/encodings"] = s["model.decoder.embed_positions.weight"]
    norm("decoder/layer_norm", "model.decoder.layer_norm")
    return {k: v.to(dtype) for k, v in out.items()}


def _ct2_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(
    model, folder: Path, dtype: torch.dtype = torch.float32, version: int = 6, k_bias: float = 0.0
) -> Path:
    """A faster-whisper folder: model.bin (format of ctranslate2-whisper-layout.md) + config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = ct2_variables(model, dtype)
    if k_bias:
        tensors["encoder/layer_0/self_attention/linear_0/bias"][D] = k_bias
    codes = {torch.float32: 0, torch.float16: 4}
    scalars = [
        ("encoder/num_heads", 2, struct.pack("<h", HEADS)),
        ("decoder/num_heads", 2, struct.pack("<h", HEADS)),
        ("decoder/activation", 1, struct.pack("<b", 3)),
        ("decoder/pre_norm", 1, struct.pack("<b", 1)),
        ("decoder/scale_embeddings", 1, struct.pack("<b", 0)),
        ("decoder/alignment_layer", 2, struct.pack("<h", -1)),
    ]
    body = [struct.pack("<I", version), _ct2_string("WhisperSpec"), struct.pack("<I", 3)]
    body.append(struct.pack("<I", len(tensors) + len(scalars)))
    for name, code, data in scalars:
        body += [
            _ct2_string(name),
            struct.pack("<B", 0),
            struct.pack("<B", code),
            struct.pack("<I", len(data)),
            data,
        ]
    for name, t in sorted(tensors.items()):
        data = t.contiguous().numpy().tobytes()
        dims = struct.pack(f"<B{t.dim()}I", t.dim(), *t.shape)
        body += [_ct2_string(name), dims, struct.pack("<B", codes[dtype]), struct.pack("<I", len(data)), data]
    body += [
        struct.pack("<I", 1),
        _ct2_string("decoder/projection/weight"),
        _ct2_string("decoder/embeddings/weight"),
    ]
    (folder / "model.bin").write_bytes(b"".join(body))
    (folder / "config.json").write_text(
        json.dumps({"suppress_ids": [1, 2], "suppress_ids_begin": [220, 50257]})
    )
    return folder


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    model = tiny_whisper()
    root = tmp_path_factory.mktemp("whisper")
    model.save_pretrained(root / "hf")
    return model, {
        "hf": root / "hf",
        "openai": write_openai(model, root / "tiny.pt"),
        "ctranslate2": write_ct2(model, root / "ct2"),
    }


def test_three_layouts_read_identically(layouts):
    model, paths = layouts
    read = {name: read_whisper(p, with_decoder=True) for name, p in paths.items()}
    ref = read["hf"]
    assert ref.dims == DIMS
    hf_state = {k: v for k, v in model.state_dict().items() if k != "proj_out.weight"}
    for name, w in read.items():
        assert w.layout == name == detect_whisper_layout(paths[name])
        assert w.dims == DIMS and w.encoder_config == ref.encoder_config
        assert w.encoder_config.positions == "learned" and w.encoder_config.ffn_dim == 4 * D
        assert w.encoder_state.keys() == ref.encoder_state.keys()
        for k, t in ref.encoder_state.items():
            assert torch.equal(w.encoder_state[k], t), (name, k)
        assert w.full_state_hf.keys() == hf_state.keys()
        for k, t in hf_state.items():
            assert torch.equal(w.full_state_hf[k], t), (name, k)
    assert read["hf"].encoder_state["blocks.1.attn.k.weight"].shape == (D, D)


def test_encoders_match_transformers_whisper_encoder_on_30s(layouts):
    model, paths = layouts
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 7)).astype(np.float32)
    feats = transformers.WhisperFeatureExtractor(feature_size=80)(
        audio, sampling_rate=16000, return_tensors="pt"
    )
    mel = feats.input_features
    with torch.no_grad():
        ref = model.model.encoder(mel).last_hidden_state
        for path in paths.values():
            enc = read_whisper(path).encoder()
            states, conv_len = enc.hidden_states(mel, torch.tensor([3000]))
            assert conv_len.tolist() == [1500]
            assert rel_err(enc.final_norm(states), ref) <= 1e-5


def test_ct2_float16_weights(layouts, tmp_path):
    model, _ = layouts
    w = read_whisper(write_ct2(model, tmp_path, dtype=torch.float16))
    assert w.encoder_state["conv1.weight"].dtype == torch.float16
    assert torch.equal(
        w.encoder_state["blocks.0.attn.v.bias"], model.model.encoder.layers[0].self_attn.v_proj.bias.half()
    )
    enc = w.encoder(dtype=torch.float32)
    assert enc.conv1.weight.dtype == torch.float32


def test_whisper_to_hf_from_ct2_loads_in_transformers(layouts, tmp_path):
    model, paths = layouts
    out = whisper_to_hf(paths["ctranslate2"], tmp_path / "hf")
    back = transformers.WhisperForConditionalGeneration.from_pretrained(out)
    assert cli_main(["convert", str(paths["openai"]), str(tmp_path / "cli"), "--to", "hf-whisper"]) == 0
    from_pt = transformers.WhisperForConditionalGeneration.from_pretrained(tmp_path / "cli")
    assert torch.equal(from_pt.model.decoder.layers[1].fc2.weight, model.model.decoder.layers[1].fc2.weight)
    for k, t in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], t), k
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["task_to_id"] == {"transcribe": 50359, "translate": 50358}
    assert gen["no_timestamps_token_id"] == 50363 and gen["decoder_start_token_id"] == 50258
    assert gen["suppress_tokens"] == [1, 2] and gen["is_multilingual"] is True
    assert json.loads((out / "preprocessor_config.json").read_text())["feature_size"] == 80


def test_ct2_errors(layouts, tmp_path):
    model, _ = layouts
    with pytest.raises(CheckpointError, match="format version 5 is not supported"):
        read_whisper(write_ct2(model, tmp_path / "v5", version=5) / "model.bin")
    with pytest.raises(CheckpointError, match="non-zero key bias"):
        read_whisper(write_ct2(model, tmp_path / "kb", k_bias=0.5))
    truncated = tmp_path / "cut"
    write_ct2(model, truncated)
    data = (truncated / "model.bin").read_bytes()
    (truncated / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_whisper(truncated)


def test_not_whisper_and_unknown_packaged_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(CheckpointError, match="not a Whisper checkpoint"):
        read_whisper(tmp_path)
    with pytest.raises(ConfigError, match="available: \\['base', 'tiny.en'\\]"):
        find_packaged_whisper("large-v2")
