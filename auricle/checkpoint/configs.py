"""Official ``config.json`` files ↔ :class:`AudioLMConfig`.

* v1 (``model_type: "qwen"`` with an ``audio`` block, QWenConfig fields) → family ``qwen-audio``.
* v2 (``model_type: "qwen2_audio"``, ``audio_config`` + ``text_config``) → family ``qwen2-audio``.
* auricle's own schema: :meth:`AudioLMConfig.to_dict` plus a format marker.

Fields absent from an official file take the defaults of the class that wrote it (QWenConfig,
Qwen2Config, Qwen2AudioEncoderConfig), as transformers would. Features auricle does not implement
(partial rotary, sliding windows, RoPE scaling, …) are a :class:`CheckpointError`, never ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from auricle.errors import CheckpointError, ConfigError
from auricle.model.config import AudioLMConfig, EncoderConfig, TextConfig, preset

#: Marks auricle's own config.json (and its version).
FORMAT_KEY, FORMAT_NAME, FORMAT_VERSION = "format", "auricle", 1

#: v1's audio padding token ``[[[AUDIO:modality]]]``: the ids between ``<audio>`` and ``</audio>``.
V1_AUDIO_PAD_ID = 151851


def _require(cond: bool, what: str, fix: str = "auricle cannot load this checkpoint") -> None:
    if not cond:
        raise CheckpointError(f"unsupported config: {what}; {fix}")


def _eos_list(value: Any, default: list[int]) -> list[int]:
    if value is None:
        return list(default)
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


# ------------------------------------------------------------------------------------------- v1
def qwen_text_config(c: dict[str, Any]) -> TextConfig:
    """The text half of a Qwen v1 (QWenConfig) ``config.json``."""
    hidden, heads = c.get("hidden_size", 4096), c.get("num_attention_heads", 32)
    _require(
        c.get("rotary_pct", 1.0) == 1.0, f"rotary_pct={c.get('rotary_pct')} (only full rotary is implemented)"
    )
    _require(c.get("no_bias", True) is True, "no_bias=false (Qwen v1 checkpoints have no output/MLP biases)")
    _require(
        c.get("kv_channels", hidden // heads) == hidden // heads,
        f"kv_channels={c.get('kv_channels')} differs from hidden_size/num_attention_heads={hidden // heads}",
    )
    return TextConfig(
        vocab_size=c.get("vocab_size", 151936),
        hidden_size=hidden,
        n_layers=c.get("num_hidden_layers", 32),
        n_heads=heads,
        n_kv_heads=heads,
        intermediate_size=c.get("intermediate_size", 22016) // 2,  # QWenMLP halves it for w1 and w2
        rope_theta=float(c.get("rotary_emb_base", 10000)),
        rms_norm_eps=float(c.get("layer_norm_epsilon", 1e-6)),
        max_positions=c.get("max_position_embeddings", 8192),
        rope_in_fp32=True,
        dynamic_ntk=bool(c.get("use_dynamic_ntk", True)),
        logn_attn=bool(c.get("use_logn_attn", True)),
        seq_length=c.get("seq_length", 2048),
        tie_embeddings=bool(c.get("tie_word_embeddings", False)),
    )


def from_qwen_audio(c: dict[str, Any], generation: dict[str, Any] | None = None) -> AudioLMConfig:
    """AudioLMConfig of an official Qwen-Audio (v1) ``config.json`` (and its generation config)."""
    a = c.get("audio")
    _require(isinstance(a, dict), "config.json has no 'audio' block (is this Qwen-7B without audio?)")
    text = qwen_text_config(c)
    n_state = a.get("n_state", 1280)
    _require(a.get("avg_pool", True) is True, "audio.avg_pool=false (the encoder always pools)")
    _require(a.get("add_audio_bos_eos_token", True) is True, "audio.add_audio_bos_eos_token=false")
    _require(
        a.get("output_dim", text.hidden_size) == text.hidden_size,
        f"audio.output_dim={a.get('output_dim')} differs from hidden_size={text.hidden_size}",
    )
    encoder = EncoderConfig(
        n_mels=a.get("n_mels", 80),
        d_model=n_state,
        n_heads=a.get("n_head", 20),
        n_layers=a.get("n_layer", 32),
        ffn_dim=4 * n_state,
        n_ctx=a.get("n_ctx", 1500),
        positions="sinusoid",
        length_rule="floor",
        edge="truncate",
    )
    start = int(a.get("audio_start_id", 155163))
    gen = generation or {}
    base = preset("qwen-audio-7b")
    return base.replace(
        encoder=encoder,
        text=text,
        audio_start_id=start,
        audio_end_id=start + 1,
        eos_token_ids=_eos_list(gen.get("eos_token_id"), base.eos_token_ids),
        pad_token_id=int(gen.get("pad_token_id", base.pad_token_id)),
    )


# ------------------------------------------------------------------------------------------- v2
def qwen2_text_config(t: dict[str, Any]) -> TextConfig:
    """The text half of a Qwen2 ``config.json`` (Qwen2Config defaults for absent fields)."""
    _require(not t.get("use_sliding_window", False), "use_sliding_window=true (sliding-window attention)")
    rope = t.get("rope_parameters") or t.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    _require(rope_type == "default", f"RoPE type {rope_type!r} (only plain RoPE is implemented)")
    theta = rope.get("rope_theta", t.get("rope_theta", 10000.0))
    heads = t.get("num_attention_heads", 32)
    return TextConfig(
        vocab_size=t.get("vocab_size", 151936),
        hidden_size=t.get("hidden_size", 4096),
        n_layers=t.get("num_hidden_layers", 32),
        n_heads=heads,
        n_kv_heads=t.get("num_key_value_heads") or heads,
        intermediate_size=t.get("intermediate_size", 22016),
        rope_theta=float(theta),
        rms_norm_eps=float(t.get("rms_norm_eps", 1e-6)),
        max_positions=t.get("max_position_embeddings", 32768),
        rope_in_fp32=False,
        dynamic_ntk=False,
        logn_attn=False,
        tie_embeddings=bool(t.get("tie_word_embeddings", False)),
    )


def from_qwen2_audio(c: dict[str, Any], generation: dict[str, Any] | None = None) -> AudioLMConfig:
    """AudioLMConfig of a Hugging Face Qwen2-Audio ``config.json`` (and its generation config)."""
    a = dict(c.get("audio_config") or {})
    t = dict(c.get("text_config") or {})
    if "vocab_size" not in t and "vocab_size" in c:  # early configs kept it at the top level
        t["vocab_size"] = c["vocab_size"]
    _require(
        a.get("activation_function", "gelu") == "gelu", f"audio activation {a.get('activation_function')!r}"
    )
    _require(not a.get("scale_embedding", False), "audio_config.scale_embedding=true")
    encoder = EncoderConfig(
        n_mels=a.get("num_mel_bins", 128),
        d_model=a.get("d_model", 1280),
        n_heads=a.get("encoder_attention_heads", 20),
        n_layers=a.get("encoder_layers", 32),
        ffn_dim=a.get("encoder_ffn_dim", 5120),
        n_ctx=a.get("max_source_positions", 1500),
        positions="learned",
        length_rule="ceil",
        edge="pad_frames",
    )
    gen = generation or {}
    base = preset("qwen2-audio-7b")
    eos = gen.get("eos_token_id", t.get("eos_token_id"))
    pad = gen.get("pad_token_id", t.get("pad_token_id"))
    return base.replace(
        encoder=encoder,
        text=qwen2_text_config(t),
        audio_token_id=int(c.get("audio_token_index", c.get("audio_token_id", 151646))),
        eos_token_ids=_eos_list(eos, base.eos_token_ids),
        pad_token_id=int(pad) if pad is not None else base.pad_token_id,
    )


def to_qwen2_audio(cfg: AudioLMConfig, audio_token_id: int, dtype: str) -> dict[str, Any]:
    """A Hugging Face Qwen2-Audio ``config.json`` describing ``cfg`` (written by the HF export)."""
    e, t = cfg.encoder, cfg.text
    eos = cfg.eos_token_ids[0] if len(cfg.eos_token_ids) == 1 else list(cfg.eos_token_ids)
    return {
        "architectures": ["Qwen2AudioForConditionalGeneration"],
        "model_type": "qwen2_audio",
        "audio_token_index": audio_token_id,
        "ignore_index": -100,
        "audio_config": {
            "model_type": "qwen2_audio_encoder",
            "num_mel_bins": e.n_mels,
            "d_model": e.d_model,
            "encoder_layers": e.n_layers,
            "encoder_attention_heads": e.n_heads,
            "encoder_ffn_dim": e.ffn_dim,
            "max_source_positions": e.n_ctx,
            "activation_function": "gelu",
            "scale_embedding": False,
            "dropout": 0.0,
            "attention_dropout": 0.0,
            "activation_dropout": 0.0,
            "encoder_layerdrop": 0.0,
        },
        "text_config": {
            "model_type": "qwen2",
            "architectures": ["Qwen2ForCausalLM"],
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.n_layers,
            "num_attention_heads": t.n_heads,
            "num_key_value_heads": t.n_kv_heads,
            "max_position_embeddings": t.max_positions,
            "rms_norm_eps": t.rms_norm_eps,
            "rope_theta": t.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": t.rope_theta},
            "hidden_act": "silu",
            "tie_word_embeddings": t.tie_embeddings,
            "use_sliding_window": False,
            "dtype": dtype,
            # ids are written only when inside the vocabulary; pad_token_id is left out on purpose:
            # transformers would make it the embedding's padding_idx (a frozen row when training)
            **({"bos_token_id": cfg.pad_token_id} if cfg.pad_token_id < t.vocab_size else {}),
            **({"eos_token_id": eos} if max(cfg.eos_token_ids) < t.vocab_size else {}),
        },
        "tie_word_embeddings": t.tie_embeddings,
        "vocab_size": t.vocab_size,
        "dtype": dtype,
        "torch_dtype": dtype,
        "auricle": {
            "family": cfg.family,
            "audio_boundary": cfg.audio_boundary,
            "prompt_style": cfg.prompt_style,
        },
    }


# ------------------------------------------------------------------------------------------- ours
def to_auricle(cfg: AudioLMConfig, dtype: str | None = None) -> dict[str, Any]:
    """auricle's own ``config.json``: the config's fields, a format marker and the stored dtype."""
    out: dict[str, Any] = {FORMAT_KEY: FORMAT_NAME, "format_version": FORMAT_VERSION}
    if dtype is not None:
        out["dtype"] = dtype
    out.update(cfg.to_dict())
    return out


def from_auricle(c: dict[str, Any]) -> AudioLMConfig:
    """Inverse of :func:`to_auricle`."""
    version = c.get("format_version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format_version {version} is newer than this auricle understands ({FORMAT_VERSION}); "
            "upgrade auricle"
        )
    fields = {k: v for k, v in c.items() if k not in (FORMAT_KEY, "format_version", "dtype")}
    try:
        return AudioLMConfig.from_dict(fields)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"config.json does not describe an auricle model: {e}") from e


def replace_text(cfg: AudioLMConfig, **changes: Any) -> AudioLMConfig:
    """A copy of ``cfg`` with text-config fields changed."""
    return cfg.replace(text=dataclasses.replace(cfg.text, **changes))
