"""Run logs on rank 0: JSONL (one object per line), TensorBoard scalars and a tqdm progress bar."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

LOG_FILE = "log.jsonl"


class RunLogger:
    """Writes ``<out_dir>/log.jsonl`` and ``<out_dir>/tensorboard/``; a no-op on ranks other than 0.

    Each JSONL line has ``step``, ``split`` (``"train"`` or ``"valid"``), ``time`` (seconds since the
    logger started) and the metrics given.
    """

    def __init__(
        self, out_dir: str | Path, *, enabled: bool, tensorboard: bool, progress: bool, total: int, start: int
    ) -> None:
        self.enabled = enabled
        self.t0 = time.time()
        self._file = None
        self._tb = None
        self._bar = None
        if not enabled:
            return
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self._file = (out / LOG_FILE).open("a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is in the `train` extra
                print("auricle train: tensorboard is not installed; logging to log.jsonl only")
            else:
                self._tb = SummaryWriter(str(out / "tensorboard"))
        if progress:
            self._bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)

    def log(self, step: int, metrics: dict[str, Any], split: str = "train") -> None:
        """Record ``metrics`` of ``step``."""
        if not self.enabled:
            return
        row = {"step": step, "split": split, "time": round(time.time() - self.t0, 3), **metrics}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{split}/{k}", v, step)
        if self._bar is not None:
            shown = {k: f"{v:.4g}" for k, v in metrics.items() if k in ("loss", "lr", "accuracy", "wer")}
            if split == "train":
                self._bar.set_postfix(shown, refresh=False)
            else:
                self._bar.write(f"step {step} {split}: " + " ".join(f"{k}={v}" for k, v in shown.items()))

    def advance(self, n: int = 1) -> None:
        """Move the progress bar."""
        if self._bar is not None:
            self._bar.update(n)

    def message(self, text: str) -> None:
        """A line for the user (printed above the progress bar)."""
        if self.enabled:
            (self._bar.write if self._bar is not None else print)(text)

    def close(self) -> None:
        """Flush and close everything."""
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._file is not None:
            self._file.close()
