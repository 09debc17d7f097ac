"""What machine a benchmark ran on, shared by the scripts in bench/ (run as ``python bench/X.py``)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def setup_torch(threads: int | None) -> None:
    """Use ``threads`` torch threads (None: torch's choice), quiet transformers, print the machine line."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if threads:
        torch.set_num_threads(threads)
    print(f"machine: {cpu_model()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")


def synchronize(device) -> None:
    """Wait for the work queued on ``device`` (a CUDA device; a no-op on a CPU), before reading a clock."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(
    step: Callable[[], None], *, warmup: int, repeats: int, steps: int, sync: Callable[[], None]
) -> float:
    """Seconds per call of ``step``: ``warmup`` calls, then the best of ``repeats`` runs of ``steps``."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return min(times)
