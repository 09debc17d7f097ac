"""An exponential moving average (EMA) of the trained weights, kept beside them during a run.

From step ``start`` on, after every optimizer step, each trained parameter's shadow ``s`` moves
towards the parameter ``p``: ``s ← decay·s + (1 − decay)·p`` (before ``start`` the shadow is a copy
of the weights). The average smooths the noise of the last ``≈ 1 / (1 − decay)`` steps, which is
what averaging checkpoints by hand ("model soups" of one run, ``auricle average``) does after the
fact; docs/training.md has the measurements. Shadows are float32 tensors of the parameters' own
kind (DTensor shards under FSDP2), so the update and the checkpoint shard like the weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from auricle.errors import ConfigError


class WeightAverage:
    """EMA shadows of the parameters of ``model`` that require gradients."""

    def __init__(self, model: nn.Module, decay: float, start: int = 0) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in (0, 1) to average (0 turns it off), got {decay}")
        if start < 0:
            raise ConfigError(f"train.ema_start must be >= 0, got {start}")
        self.decay, self.start = decay, start
        # compiled modules add "_orig_mod." to names: drop it, so a run may resume with compile toggled
        self.params = {
            name.replace("_orig_mod.", ""): p for name, p in model.named_parameters() if p.requires_grad
        }
        self.shadows = {name: p.detach().float().clone() for name, p in self.params.items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (1-based); a copy before ``start``."""
        if step <= self.start:
            self.reset()
            return
        for name, p in self.params.items():
            self.shadows[name].lerp_(p.detach().float(), 1.0 - self.decay)

    @torch.no_grad()
    def reset(self) -> None:
        """Restart the average at the current weights."""
        for name, p in self.params.items():
            self.shadows[name].copy_(p.detach())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadows by parameter name: the checkpoint saves them, and loading fills them in place."""
        return dict(self.shadows)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own weights again after it."""
        with torch.no_grad():
            kept = {name: p.detach().clone() for name, p in self.params.items()}
            for name, p in self.params.items():
                p.copy_(self.shadows[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(kept[name])
