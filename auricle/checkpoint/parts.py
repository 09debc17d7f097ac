"""An AudioLM built from parts: a Whisper encoder, a Qwen LLM and a fresh projector.

This is how real pretraining starts (the paper starts from Whisper-large-v2 and Qwen-7B). The LLM is
a Hugging Face Qwen2 folder (``model_type: "qwen2"``), a Qwen v1 folder (``model_type: "qwen"``),
or none: then ``llm_config`` describes a freshly initialised one. New parts start at the scale of
the LLM's token embeddings, so the first audio frames do not swamp the text:

* projector weight ~ N(0, (rms(E) / √d_in)²) (d_in its input width), bias 0 — unit-variance encoder states map to rows
  with the embeddings' RMS;
* learned audio bos/eos rows (``audio_boundary="learned"``) ~ N(0, rms(E)²);
* rows added by ``vocab_size`` (e.g. Qwen-7B's 151936 → Qwen-Audio's 155947 for the audio and
  task tags) = mean embedding + N(0, (0.1·rms(E))²), in both the embedding and the LM head.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auricle.checkpoint import configs
from auricle.checkpoint.files import list_tensors, read_json, weight_files
from auricle.checkpoint.loader import (
    assign,
    check_routes,
    expected_tensors,
    finish_meta,
    load_routes,
    routes_for,
)
from auricle.checkpoint.whisper import read_whisper
from auricle.errors import CheckpointError, ConfigError
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig, TextConfig


def llm_layout(folder: Path) -> tuple[str, TextConfig]:
    """(``"qwen2-lm"`` or ``"qwen-lm"``, its TextConfig) of a text-only LLM folder."""
    c = read_json(folder / "config.json")
    kind = c.get("model_type")
    if kind == "qwen2":
        return "qwen2-lm", configs.qwen2_text_config(c)
    if kind == "qwen" and "audio" not in c:
        return "qwen-lm", configs.qwen_text_config(c)
    raise CheckpointError(
        f"{folder}/config.json has model_type={kind!r}; build_from_parts needs a text-only Qwen2 "
        "(model_type 'qwen2') or Qwen v1 (model_type 'qwen') LLM folder"
    )


def _gen_ids(folder: Path | None) -> dict[str, Any]:
    """eos/pad ids from an LLM folder's generation_config.json (empty if none)."""
    if folder is None or not (folder / "generation_config.json").is_file():
        return {}
    gen = read_json(folder / "generation_config.json")
    out: dict[str, Any] = {}
    if gen.get("eos_token_id") is not None:
        eos = gen["eos_token_id"]
        out["eos_token_ids"] = [int(e) for e in eos] if isinstance(eos, list) else [int(eos)]
    if gen.get("pad_token_id") is not None:
        out["pad_token_id"] = int(gen["pad_token_id"])
    return out


def _init_new_parts(model: AudioLM, gen: torch.Generator) -> None:
    embed = model.text.embed.weight
    rms = float(embed.detach().float().pow(2).mean().sqrt())
    d_in = model.projector.in_features  # d_model, times (1 + taps) with encoder taps, times stack
    w = torch.randn(model.projector.weight.shape, generator=gen) * (rms / math.sqrt(d_in))
    assign(model, "projector.weight", w.to(embed))
    assign(model, "projector.bias", torch.zeros(model.projector.bias.shape).to(embed))
    if model.cfg.audio_boundary == "learned":
        assign(model, "audio_bos_eos.weight", (torch.randn(2, embed.shape[1], generator=gen) * rms).to(embed))
    d = model.cfg.encoder.d_model
    for i in range(len(model.encoder.tap_norms)):  # LayerNorms of encoder taps start as identity maps
        assign(model, f"encoder.tap_norms.{i}.weight", torch.ones(d).to(embed))
        assign(model, f"encoder.tap_norms.{i}.bias", torch.zeros(d).to(embed))


def _grow_vocab(model: AudioLM, vocab_size: int, gen: torch.Generator) -> None:
    old = model.cfg.text.vocab_size
    if vocab_size < old:
        raise ConfigError(f"vocab_size {vocab_size} is smaller than the LLM's {old}; it can only grow")
    if vocab_size == old:
        return
    rows = vocab_size - old

    def grown(w: torch.Tensor) -> nn.Parameter:
        """``w`` with ``rows`` new rows: the mean row plus small noise."""
        w = w.detach()
        rms = float(w.float().pow(2).mean().sqrt())
        new = w.float().mean(0, keepdim=True) + 0.1 * rms * torch.randn(rows, w.shape[1], generator=gen)
        return nn.Parameter(torch.cat([w, new.to(w)], dim=0))

    model.text.embed.weight = grown(model.text.embed.weight)
    model.text.embed.num_embeddings = vocab_size
    if not model.cfg.text.tie_embeddings:
        model.lm_head.weight = grown(model.lm_head.weight)
    model.tie_weights()
    model.lm_head.out_features = vocab_size
    model.cfg.text.vocab_size = vocab_size  # one TextConfig object is shared by every text module


def build_from_parts(
    whisper_path: str | Path,
    llm_path: str | Path | None = None,
    *,
    llm_config: TextConfig | None = None,
    family: str = "auricle",
    audio_boundary: str = "learned",
    prompt_style: str = "qwen-audio",
    vocab_size: int | None = None,
    encoder_overrides: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **overrides: Any,
) -> AudioLM:
    """An AudioLM from a Whisper checkpoint (any layout) and an LLM folder (or a fresh ``llm_config``).

    ``encoder_overrides`` change non-shape encoder fields (e.g. ``length_rule``); ``overrides`` set
    other :class:`AudioLMConfig` fields (``audio_start_id``, ``eos_token_ids``…). The projector (and
    the audio bos/eos rows) are new; ``seed`` makes them reproducible. Returned in eval mode.
    """
    if (llm_path is None) == (llm_config is None):
        raise ConfigError("give exactly one of llm_path (a Qwen/Qwen2 folder) and llm_config (a fresh LLM)")
    whisper = read_whisper(whisper_path)
    enc_cfg = dataclasses.replace(whisper.encoder_config, **(encoder_overrides or {}))
    folder = Path(llm_path).expanduser() if llm_path is not None else None
    layout, text_cfg = llm_layout(folder) if folder is not None else ("", llm_config)
    cfg = AudioLMConfig(
        family=family,
        encoder=enc_cfg,
        text=text_cfg,
        audio_boundary=audio_boundary,
        prompt_style=prompt_style,
        **{**_gen_ids(folder), **overrides},
    )
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    if folder is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AudioLM(cfg)
    else:
        with torch.device("meta"):
            model = AudioLM(cfg)
        infos = list_tensors(weight_files(folder))
        routes, unexpected = routes_for(layout, list(infos))
        if text_cfg.tie_embeddings:
            routes = [r for r in routes if r.target != "lm_head.weight"]
        expected = expected_tensors(model, prefixes=("text.", "lm_head."))
        check_routes(routes, unexpected, infos, expected, str(folder), layout)
        load_routes(model, routes, infos, dtype, device)
    for name, t in whisper.encoder_state.items():
        assign(model, "encoder." + name, t.to(device=device, dtype=dtype))
    _init_new_parts(model, gen)
    if folder is not None:
        finish_meta(model, dtype, device)
    if vocab_size is not None:
        _grow_vocab(model, vocab_size, gen)
    return model.to(device=device, dtype=dtype).eval()
