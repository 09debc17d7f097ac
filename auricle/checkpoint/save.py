"""Saving an AudioLM in auricle's own layout.

A folder with ``config.json`` (the :class:`AudioLMConfig` fields, ``"format": "auricle"`` and the
stored dtype), ``model.safetensors`` or ``model-0000i-of-0000n.safetensors`` + index under auricle's
parameter names, and the tokenizer/generation files copied from ``tokenizer_folder``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from auricle.checkpoint import configs
from auricle.checkpoint.files import copy_side_files
from auricle.checkpoint.loader import DTYPES
from auricle.checkpoint.writer import write_shards
from auricle.errors import ConfigError
from auricle.model.audiolm import AudioLM


def as_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """A torch dtype from None, a torch dtype or one of ``float32``/``bfloat16``/``float16``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not valid; choose one of {list(DTYPES)}")
    return DTYPES[dtype]


def model_state(model: AudioLM) -> dict[str, torch.Tensor]:
    """The persistent tensors of ``model`` under auricle names; a tied LM head is stored once."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            out[name] = t.detach()
    return out


def dtype_name(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None) -> str:
    """The name of the floating dtype the tensors are (or will be) stored in."""
    if dtype is None:
        sizes: dict[torch.dtype, int] = {}
        for t in tensors.values():
            if t.is_floating_point():
                sizes[t.dtype] = sizes.get(t.dtype, 0) + t.numel()
        dtype = max(sizes, key=sizes.get) if sizes else torch.float32
    return str(dtype).removeprefix("torch.")


def write_json(path: Path, content: dict) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(
    model: AudioLM,
    folder: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    shard_size: int | str = "2GB",
    tokenizer_folder: str | Path | None = None,
    progress: bool | None = None,
    state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save ``model`` in auricle's layout; returns the folder.

    ``dtype`` casts floating tensors (default: keep them as they are). ``shard_size`` bounds each
    safetensors file (``"2GB"``, ``"500MB"``, bytes). Tokenizer, generation and preprocessing files
    found in ``tokenizer_folder`` (e.g. the folder the model was loaded from) are copied beside.
    ``state`` saves these tensors instead of the model's own (the names of :func:`model_state`, e.g.
    an average of several models of this architecture).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = as_dtype(dtype)
    state = model_state(model) if state is None else state
    write_shards(state, folder, shard_size=shard_size, dtype=target, progress=progress)
    write_json(folder / "config.json", configs.to_auricle(model.cfg, dtype_name(state, target)))
    if tokenizer_folder is not None:
        copy_side_files(Path(tokenizer_folder), folder)
    return folder
