"""Weight-name maps between auricle's parameter names and the official checkpoint layouts.

This is the only place that knows official names (spec §3.2 and §4.3). Each map is a list of
``(official regex, auricle template)`` pairs over dotted names; layer indices are carried by ``{i}``.
v1 fuses q/k/v in ``c_attn``; :func:`qwen_audio_to_auricle` / :func:`auricle_to_qwen_audio` split
and fuse them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

# (official pattern, auricle name); "{i}" is a layer index in both.
_ENCODER_V2 = [
    ("audio_tower.conv1.{p}", "encoder.conv1.{p}"),
    ("audio_tower.conv2.{p}", "encoder.conv2.{p}"),
    ("audio_tower.embed_positions.weight", "encoder.positions"),
    ("audio_tower.layers.{i}.self_attn_layer_norm.{p}", "encoder.blocks.{i}.attn_norm.{p}"),
    ("audio_tower.layers.{i}.self_attn.q_proj.{p}", "encoder.blocks.{i}.attn.q.{p}"),
    ("audio_tower.layers.{i}.self_attn.k_proj.{p}", "encoder.blocks.{i}.attn.k.{p}"),
    ("audio_tower.layers.{i}.self_attn.v_proj.{p}", "encoder.blocks.{i}.attn.v.{p}"),
    ("audio_tower.layers.{i}.self_attn.out_proj.{p}", "encoder.blocks.{i}.attn.o.{p}"),
    ("audio_tower.layers.{i}.final_layer_norm.{p}", "encoder.blocks.{i}.mlp_norm.{p}"),
    ("audio_tower.layers.{i}.fc1.{p}", "encoder.blocks.{i}.fc1.{p}"),
    ("audio_tower.layers.{i}.fc2.{p}", "encoder.blocks.{i}.fc2.{p}"),
    ("audio_tower.layer_norm.{p}", "encoder.final_norm.{p}"),
    ("multi_modal_projector.linear.{p}", "projector.{p}"),
]

_TEXT_QWEN2 = [
    ("model.embed_tokens.weight", "text.embed.weight"),
    ("model.layers.{i}.input_layernorm.weight", "text.layers.{i}.attn_norm.weight"),
    ("model.layers.{i}.self_attn.q_proj.{p}", "text.layers.{i}.attn.q.{p}"),
    ("model.layers.{i}.self_attn.k_proj.{p}", "text.layers.{i}.attn.k.{p}"),
    ("model.layers.{i}.self_attn.v_proj.{p}", "text.layers.{i}.attn.v.{p}"),
    ("model.layers.{i}.self_attn.o_proj.weight", "text.layers.{i}.attn.o.weight"),
    ("model.layers.{i}.post_attention_layernorm.weight", "text.layers.{i}.mlp_norm.weight"),
    ("model.layers.{i}.mlp.gate_proj.weight", "text.layers.{i}.mlp.gate.weight"),
    ("model.layers.{i}.mlp.up_proj.weight", "text.layers.{i}.mlp.up.weight"),
    ("model.layers.{i}.mlp.down_proj.weight", "text.layers.{i}.mlp.down.weight"),
    ("model.norm.weight", "text.norm.weight"),
    ("lm_head.weight", "lm_head.weight"),
]

#: Qwen2-Audio as saved on the Hub (transformers 4.x module tree).
QWEN2_AUDIO_HUB = _ENCODER_V2 + [("language_model." + a, b) for a, b in _TEXT_QWEN2]

#: Qwen2-Audio as transformers 5.x names it at run time (``model.`` prefix, ``lm_head`` on top).
QWEN2_AUDIO_RUNTIME = [("model." + a, b) for a, b in _ENCODER_V2] + [
    ("model.language_model." + a.removeprefix("model."), b) if a != "lm_head.weight" else (a, b)
    for a, b in _TEXT_QWEN2
]

#: A plain Qwen2ForCausalLM (the LLM half), e.g. to build an AudioLM from parts.
QWEN2_LM = _TEXT_QWEN2

_V1_ENC = "transformer.audio."
#: Qwen-Audio v1 (``QWenLMHeadModel``); ``c_attn`` is handled separately (fused q/k/v).
QWEN_AUDIO = [
    (_V1_ENC + "conv1.{p}", "encoder.conv1.{p}"),
    (_V1_ENC + "conv2.{p}", "encoder.conv2.{p}"),
    (_V1_ENC + "blocks.{i}.attn_ln.{p}", "encoder.blocks.{i}.attn_norm.{p}"),
    (_V1_ENC + "blocks.{i}.attn.query.{p}", "encoder.blocks.{i}.attn.q.{p}"),
    (_V1_ENC + "blocks.{i}.attn.key.weight", "encoder.blocks.{i}.attn.k.weight"),
    (_V1_ENC + "blocks.{i}.attn.value.{p}", "encoder.blocks.{i}.attn.v.{p}"),
    (_V1_ENC + "blocks.{i}.attn.out.{p}", "encoder.blocks.{i}.attn.o.{p}"),
    (_V1_ENC + "blocks.{i}.mlp_ln.{p}", "encoder.blocks.{i}.mlp_norm.{p}"),
    (_V1_ENC + "blocks.{i}.mlp.0.{p}", "encoder.blocks.{i}.fc1.{p}"),
    (_V1_ENC + "blocks.{i}.mlp.2.{p}", "encoder.blocks.{i}.fc2.{p}"),
    (_V1_ENC + "ln_post.{p}", "encoder.final_norm.{p}"),
    (_V1_ENC + "proj.{p}", "projector.{p}"),
    (_V1_ENC + "audio_bos_eos_token.weight", "audio_bos_eos.weight"),
    ("transformer.wte.weight", "text.embed.weight"),
    ("transformer.h.{i}.ln_1.weight", "text.layers.{i}.attn_norm.weight"),
    ("transformer.h.{i}.attn.c_proj.weight", "text.layers.{i}.attn.o.weight"),
    ("transformer.h.{i}.ln_2.weight", "text.layers.{i}.mlp_norm.weight"),
    ("transformer.h.{i}.mlp.w2.weight", "text.layers.{i}.mlp.gate.weight"),  # w2 goes through SiLU
    ("transformer.h.{i}.mlp.w1.weight", "text.layers.{i}.mlp.up.weight"),
    ("transformer.h.{i}.mlp.c_proj.weight", "text.layers.{i}.mlp.down.weight"),
    ("transformer.ln_f.weight", "text.norm.weight"),
    ("lm_head.weight", "lm_head.weight"),
]
#: v1 keys that are derived buffers, not weights: ignored on load, not written on export.
QWEN_AUDIO_IGNORED = (_V1_ENC + "positional_embedding",)
_V1_CATTN = re.compile(r"transformer\.h\.(\d+)\.attn\.c_attn\.(weight|bias)$")
#: v1's fused q/k/v projection: groups (layer index, "weight" | "bias").
V1_CATTN = _V1_CATTN


def _compile(pattern: str) -> re.Pattern[str]:
    rx = re.escape(pattern).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>weight|bias)")
    return re.compile(rx + "$")


def _fill(template: str, m: re.Match[str]) -> str:
    return template.replace("{i}", m.groupdict().get("i") or "").replace("{p}", m.groupdict().get("p") or "")


def rename(names: Iterable[str], rules: list[tuple[str, str]], reverse: bool = False) -> dict[str, str]:
    """Map each name through the first matching rule; names no rule matches are left out.

    ``reverse=False`` maps official → auricle, ``True`` auricle → official.
    """
    compiled = [(_compile(b if reverse else a), a if reverse else b) for a, b in rules]
    out: dict[str, str] = {}
    for name in names:
        for rx, template in compiled:
            m = rx.match(name)
            if m:
                out[name] = _fill(template, m)
                break
    return out


def convert(
    state: dict[str, torch.Tensor],
    rules: list[tuple[str, str]],
    reverse: bool = False,
    ignore: Iterable[str] = (),
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Renamed tensors and the list of source names no rule matched (excluding ``ignore``)."""
    mapping = rename(state, rules, reverse)
    unmatched = [k for k in state if k not in mapping and k not in set(ignore)]
    return {mapping[k]: v for k, v in state.items() if k in mapping}, unmatched


def qwen_audio_to_auricle(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """v1 official state dict → auricle names, splitting fused ``c_attn`` into q, k, v."""
    rest = {}
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        m = _V1_CATTN.match(k)
        if m:
            q, kk, vv = v.chunk(3, dim=0)
            for part, t in zip("qkv", (q, kk, vv)):
                out[f"text.layers.{m.group(1)}.attn.{part}.{m.group(2)}"] = t
        else:
            rest[k] = v
    renamed, unmatched = convert(rest, QWEN_AUDIO, ignore=QWEN_AUDIO_IGNORED)
    out.update(renamed)
    return out, unmatched


def auricle_to_qwen_audio(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """auricle state dict → v1 official names, fusing q, k, v into ``c_attn``."""
    out, _ = convert(
        {k: v for k, v in state.items() if ".attn." not in k or k.startswith("encoder.") or ".attn.o." in k},
        QWEN_AUDIO,
        reverse=True,
    )
    layers = sorted({int(k.split(".")[2]) for k in state if k.startswith("text.layers.")})
    for i in layers:
        for p in ("weight", "bias"):
            parts = [state[f"text.layers.{i}.attn.{x}.{p}"] for x in "qkv"]
            out[f"transformer.h.{i}.attn.c_attn.{p}"] = torch.cat(parts, dim=0)
    return out


# --------------------------------------------------------------------------------------------------
# Whisper. Every Whisper layout is first renamed to transformers' WhisperForConditionalGeneration
# names (the most complete one: encoder, decoder, output projection), then the encoder is mapped to
# auricle's AudioEncoder names with WHISPER_HF_ENCODER.

_WHISPER_BLOCK_OPENAI = [
    ("blocks.{i}.attn.query.{p}", "layers.{i}.self_attn.q_proj.{p}"),
    ("blocks.{i}.attn.key.weight", "layers.{i}.self_attn.k_proj.weight"),
    ("blocks.{i}.attn.value.{p}", "layers.{i}.self_attn.v_proj.{p}"),
    ("blocks.{i}.attn.out.{p}", "layers.{i}.self_attn.out_proj.{p}"),
    ("blocks.{i}.attn_ln.{p}", "layers.{i}.self_attn_layer_norm.{p}"),
    ("blocks.{i}.cross_attn.query.{p}", "layers.{i}.encoder_attn.q_proj.{p}"),
    ("blocks.{i}.cross_attn.key.weight", "layers.{i}.encoder_attn.k_proj.weight"),
    ("blocks.{i}.cross_attn.value.{p}", "layers.{i}.encoder_attn.v_proj.{p}"),
    ("blocks.{i}.cross_attn.out.{p}", "layers.{i}.encoder_attn.out_proj.{p}"),
    ("blocks.{i}.cross_attn_ln.{p}", "layers.{i}.encoder_attn_layer_norm.{p}"),
    ("blocks.{i}.mlp.0.{p}", "layers.{i}.fc1.{p}"),
    ("blocks.{i}.mlp.2.{p}", "layers.{i}.fc2.{p}"),
    ("blocks.{i}.mlp_ln.{p}", "layers.{i}.final_layer_norm.{p}"),
]

#: openai-whisper ``.pt`` (``model_state_dict``) → transformers Whisper names.
WHISPER_OPENAI = [
    ("encoder.conv1.{p}", "model.encoder.conv1.{p}"),
    ("encoder.conv2.{p}", "model.encoder.conv2.{p}"),
    ("encoder.positional_embedding", "model.encoder.embed_positions.weight"),
    ("encoder.ln_post.{p}", "model.encoder.layer_norm.{p}"),
    ("decoder.token_embedding.weight", "model.decoder.embed_tokens.weight"),
    ("decoder.positional_embedding", "model.decoder.embed_positions.weight"),
    ("decoder.ln.{p}", "model.decoder.layer_norm.{p}"),
    *[
        ("encoder." + a, "model.encoder." + b)
        for a, b in _WHISPER_BLOCK_OPENAI[:5] + _WHISPER_BLOCK_OPENAI[10:]
    ],
    *[("decoder." + a, "model.decoder." + b) for a, b in _WHISPER_BLOCK_OPENAI],
]


def _ct2_norm(ct2: str, hf: str) -> list[tuple[str, str]]:
    return [(ct2 + "/gamma", hf + ".weight"), (ct2 + "/beta", hf + ".bias")]


def _ct2_linear(ct2: str, hf: str) -> list[tuple[str, str]]:
    return [(ct2 + "/weight", hf + ".weight"), (ct2 + "/bias", hf + ".bias")]


def _ct2_layer(side: str) -> list[tuple[str, str]]:
    ct2, hf = f"{side}/layer_{{i}}", f"model.{side}.layers.{{i}}"
    rules = [
        *_ct2_norm(ct2 + "/self_attention/layer_norm", hf + ".self_attn_layer_norm"),
        *_ct2_linear(ct2 + "/self_attention/linear_1", hf + ".self_attn.out_proj"),
        *_ct2_norm(ct2 + "/ffn/layer_norm", hf + ".final_layer_norm"),
        *_ct2_linear(ct2 + "/ffn/linear_0", hf + ".fc1"),
        *_ct2_linear(ct2 + "/ffn/linear_1", hf + ".fc2"),
    ]
    if side == "decoder":
        rules += [
            *_ct2_norm(ct2 + "/attention/layer_norm", hf + ".encoder_attn_layer_norm"),
            *_ct2_linear(ct2 + "/attention/linear_0", hf + ".encoder_attn.q_proj"),
            *_ct2_linear(ct2 + "/attention/linear_2", hf + ".encoder_attn.out_proj"),
        ]
    return rules


#: CTranslate2 / faster-whisper ``model.bin`` → transformers Whisper names, for the unfused tensors.
#: Fused projections are listed in WHISPER_CT2_FUSED.
WHISPER_CT2 = [
    *_ct2_linear("encoder/conv1", "model.encoder.conv1"),
    *_ct2_linear("encoder/conv2", "model.encoder.conv2"),
    ("encoder/position_encodings/encodings", "model.encoder.embed_positions.weight"),
    *_ct2_norm("encoder/layer_norm", "model.encoder.layer_norm"),
    ("decoder/embeddings/weight", "model.decoder.embed_tokens.weight"),
    ("decoder/position_encodings/encodings", "model.decoder.embed_positions.weight"),
    *_ct2_norm("decoder/layer_norm", "model.decoder.layer_norm"),
    *_ct2_layer("encoder"),
    *_ct2_layer("decoder"),
]

#: CTranslate2 fused projections: (pattern, HF prefixes of the equal row blocks, in order). The k
#: projection of Whisper has no bias: its block of a fused bias holds zeros and is dropped.
WHISPER_CT2_FUSED = [
    (
        "encoder/layer_{i}/self_attention/linear_0",
        ["model.encoder.layers.{i}.self_attn." + x for x in ("q_proj", "k_proj", "v_proj")],
    ),
    (
        "decoder/layer_{i}/self_attention/linear_0",
        ["model.decoder.layers.{i}.self_attn." + x for x in ("q_proj", "k_proj", "v_proj")],
    ),
    (
        "decoder/layer_{i}/attention/linear_1",
        ["model.decoder.layers.{i}.encoder_attn." + x for x in ("k_proj", "v_proj")],
    ),
]

#: transformers Whisper encoder → auricle AudioEncoder names (no ``encoder.`` prefix).
WHISPER_HF_ENCODER = [
    (a.replace("audio_tower.", "model.encoder.", 1), b.removeprefix("encoder."))
    for a, b in _ENCODER_V2
    if a.startswith("audio_tower.")
]
