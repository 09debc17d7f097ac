"""Writing tensors as (sharded) safetensors files with a Hugging Face style index.

One shard is cast and written at a time, so saving needs at most one shard of extra memory. Files
are written under a temporary name and renamed into place: a model whose tensors are still mapped
from the old files of the same folder keeps reading the old data, never a half-written file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from auricle.errors import ConfigError

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def _file_mode() -> int:
    """The mode a newly created file gets here: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def parse_size(size: int | str) -> int:
    """Bytes from an int or a string such as ``"2GB"``, ``"500MB"``, ``"1GiB"``."""
    if isinstance(size, int):
        value = size
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", str(size), flags=re.IGNORECASE)
        if not m:
            raise ConfigError(
                f"shard size {size!r} is not valid; write e.g. 2GB, 500MB, 1GiB or a byte count"
            )
        value = int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])
    if value <= 0:
        raise ConfigError(f"shard size must be positive, got {size!r}")
    return value


def _target_nbytes(t: torch.Tensor, dtype: torch.dtype | None) -> int:
    itemsize = (dtype if dtype is not None and t.is_floating_point() else t.dtype).itemsize
    return t.numel() * itemsize


def _prepare(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    t = t.detach()
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype)
    t = t.to("cpu").contiguous()
    if t.untyped_storage().nbytes() != t.nbytes:  # a view into a larger (e.g. fused) tensor
        t = t.clone()
    return t


def write_shards(
    tensors: dict[str, torch.Tensor],
    folder: Path,
    *,
    shard_size: int | str = "2GB",
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Write ``model.safetensors`` or ``model-0000i-of-0000n.safetensors`` + index; the files written.

    Floating tensors are cast to ``dtype`` when given. Stale shards of an earlier save are removed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    limit = parse_size(shard_size)
    shards: list[list[str]] = [[]]
    used = 0
    for name, t in tensors.items():
        n = _target_nbytes(t, dtype)
        if shards[-1] and used + n > limit:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += n
    total = sum(_target_nbytes(t, dtype) for t in tensors.values())
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    )
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="writing", disable=_quiet(progress, total))
    for file_name, shard in zip(names, shards):
        tmp = folder / (file_name + ".tmp")
        save_file({k: _prepare(tensors[k], dtype) for k in shard}, str(tmp), metadata={"format": "pt"})
        os.chmod(tmp, _file_mode())  # safetensors creates its files owner-only; a model is shared
        os.replace(tmp, folder / file_name)
        bar.update(sum(_target_nbytes(tensors[k], dtype) for k in shard))
    bar.close()
    index = folder / "model.safetensors.index.json"
    if len(shards) > 1:
        weight_map = {k: file_name for file_name, shard in zip(names, shards) for k in shard}
        tmp = folder / (index.name + ".tmp")
        tmp.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
        os.replace(tmp, index)
    elif index.exists():
        index.unlink()
    for old in folder.glob("model*.safetensors"):
        if old.name not in names:
            old.unlink()
    return [folder / n for n in names]


def _quiet(progress: bool | None, total: int) -> bool | None:
    """tqdm's ``disable``: forced by ``progress``, else shown for big jobs on a terminal only."""
    if progress is None:
        return None if total >= 2**30 else True
    return not progress
