"""Resumable training checkpoints: written atomically, verified before they are loaded.

Layout of ``<out_dir>/checkpoints/step_00000100/``:

* ``.metadata`` and ``*.distcp``: model and optimizer through ``torch.distributed.checkpoint``
  (sharded under FSDP2, loadable with any number of processes);
* ``rank<R>.pt``: that rank's RNG states (python, numpy, torch, CUDA), the scheduler, the step and the
  data-stream position;
* ``COMPLETE.json``: the completion marker, listing every file with its size.

Everything is written into ``step_XXXXXXXX.tmp``, fsync'ed, then the marker is written and the
folder renamed. A folder is loaded only if its marker exists and every listed file has its size, so
a crash at any moment leaves either the previous checkpoint or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from auricle.errors import CheckpointError
from auricle.train.distributed import DistInfo, barrier

MARKER = "COMPLETE.json"
_STEP_DIR = re.compile(r"step_(\d{8})")


def step_dir(root: str | Path, step: int) -> Path:
    """Folder of the checkpoint of ``step`` under ``root``."""
    return Path(root) / f"step_{step:08d}"


def capture_rng() -> dict[str, Any]:
    """Every RNG state training touches: python, numpy, torch CPU and CUDA."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _single_process_quiet() -> Iterator[None]:
    """Silence DCP's notice that it runs without a process group (expected on one process)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a finished checkpoint: marker present and every listed file intact in size."""
    path = Path(path)
    if not path.is_dir() or path.name.endswith(".tmp"):
        return False
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
        return bool(files) and all((path / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def find_latest(root: str | Path) -> Path | None:
    """The newest complete checkpoint under ``root`` (torn or temporary folders are passed over)."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = sorted(
        (int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.fullmatch(p.name)) and p.is_dir()
    )
    for _, path in reversed(found):
        if is_complete(path):
            return path
    return None


def save_training_state(
    root: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any],
    info: DistInfo,
    keep_last: int = 2,
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint of ``step`` (all ranks call this together); returns its folder.

    ``extra`` (scheduler state, step, data position ...) is saved per rank together with the RNG
    states; ``ema`` (the weight average's shadows, :mod:`auricle.train.ema`) beside the model.
    Older complete checkpoints beyond ``keep_last`` are deleted afterwards.
    """
    root = Path(root)
    final = step_dir(root, step)
    if is_complete(final):
        return final
    tmp = final.with_name(final.name + ".tmp")
    if info.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier(info)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    with _single_process_quiet():
        dcp.save(
            {"model": model_sd, "optim": optim_sd, **({"ema": ema} if ema is not None else {})},
            storage_writer=dcp.FileSystemWriter(tmp, sync_files=True),
            no_dist=not info.distributed,
        )
    rank_file = tmp / f"rank{info.rank}.pt"
    torch.save({**extra, "rng": capture_rng(), "world_size": info.world_size}, rank_file)
    _fsync_file(rank_file)
    barrier(info)
    if info.is_main:
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
        marker = tmp / MARKER
        marker.write_text(json.dumps({"step": step, "files": files}, indent=1), encoding="utf-8")
        _fsync_file(marker)
        _fsync_dir(tmp)
        if final.exists():  # a torn leftover of the same step
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(root)
        _prune(root, keep_last)
    barrier(info)
    return final


def _prune(root: Path, keep_last: int) -> None:
    if keep_last <= 0:
        return
    complete = sorted(p for p in root.iterdir() if _STEP_DIR.fullmatch(p.name) and is_complete(p))
    for old in complete[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)


def load_training_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    info: DistInfo,
    ema: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Load model and optimizer from a complete checkpoint, restore RNGs; returns this rank's extras.

    ``ema``: shadow tensors to fill in place from the checkpoint's weight average; the extras'
    ``"ema_loaded"`` says whether it had one (a run may turn the average on when it resumes)."""
    path = Path(path)
    if not is_complete(path):
        raise CheckpointError(
            f"{path} is not a complete checkpoint (no {MARKER}, or a file is missing or truncated); "
            "resume from an earlier one or with --resume alone to pick the newest complete one"
        )
    model_sd, optim_sd = get_state_dict(model, optimizer)
    reader = dcp.FileSystemReader(path)
    saved = reader.read_metadata().state_dict_metadata
    # Parameters that had never had a gradient when the checkpoint was written (e.g. a head whose
    # examples had not come up yet) had no AdamW state; they must start without one again.
    optim_sd["state"] = {
        fqn: v
        for fqn, v in optim_sd["state"].items()
        if any(k.startswith(f"optim.state.{fqn}.") for k in saved)
    }
    state = {"model": model_sd, "optim": optim_sd}
    ema_saved = ema is not None and any(k.startswith("ema.") for k in saved)
    if ema_saved:
        state["ema"] = ema
    with _single_process_quiet():
        dcp.load(state, storage_reader=reader, no_dist=not info.distributed)
    # not strict: only so that those parameters may lack optimizer state; dcp.load above already
    # failed on any tensor missing from the checkpoint
    set_state_dict(
        model,
        optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optim"],
        options=StateDictOptions(strict=False),
    )
    rank_file = path / f"rank{info.rank}.pt"
    if not rank_file.is_file():  # resumed with more processes than were saved: share rank 0's extras
        rank_file = path / "rank0.pt"
    extra = torch.load(rank_file, map_location="cpu", weights_only=False)  # our own file: RNG tuples
    restore_rng(extra.pop("rng"))
    extra["ema_loaded"] = ema_saved
    return extra
