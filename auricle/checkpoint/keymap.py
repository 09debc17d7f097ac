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
