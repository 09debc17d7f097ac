"""Which parameters train: regexes over auricle's parameter names, set from the recipe.

A parameter trains when its name fully matches one of ``trainable`` and none of ``frozen``.
Parameters created without gradients (the v2 encoder's position table) stay frozen, and LoRA
adapter weights always train when LoRA is on (peft freezes their base layers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from auricle.errors import ConfigError


@dataclass(frozen=True)
class TrainableSummary:
    """What :func:`apply_freezing` decided: counts of trainable and total parameters (elements)."""

    trainable: int
    total: int
    names: tuple[str, ...]  # trainable parameter names
    unmatched: tuple[str, ...] = ()  # `trainable` regexes that matched nothing (e.g. v1-only parts on v2)

    def __str__(self) -> str:
        share = 100.0 * self.trainable / max(self.total, 1)
        text = f"{self.trainable:,} of {self.total:,} parameters train ({share:.2f}%)"
        return text + (f"; no parameter matches {list(self.unmatched)}" if self.unmatched else "")


def _compile(patterns: Iterable[str], what: str) -> list[re.Pattern[str]]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as e:
            raise ConfigError(f"train.{what}: {p!r} is not a valid regex: {e}") from e
    return out


def is_adapter_parameter(name: str) -> bool:
    """Whether ``name`` is a LoRA adapter weight injected by peft."""
    return ".lora_" in name


def apply_freezing(
    model: nn.Module, trainable: Iterable[str], frozen: Iterable[str] = (), *, lora: bool = False
) -> TrainableSummary:
    """Set ``requires_grad`` on every parameter of ``model`` from the regexes; returns a summary.

    Call it once, after LoRA injection and before sharding and building the optimizer. Raises
    :class:`ConfigError` when no ``trainable`` regex matches anything (a typo would otherwise freeze
    silently) or when nothing at all would train; single unmatched regexes are listed in the summary.
    """
    train_re = _compile(trainable, "trainable")
    frozen_re = _compile(frozen, "frozen")
    fixed = getattr(model, "_auricle_fixed_params", None)
    if fixed is None:  # remember which parameters were created frozen, so repeated calls agree
        fixed = {n for n, p in model.named_parameters() if not p.requires_grad}
        model._auricle_fixed_params = fixed
    used = [False] * len(train_re)
    names, n_train, n_total = [], 0, 0
    for name, p in model.named_parameters():
        hits = [i for i, r in enumerate(train_re) if r.fullmatch(name)]
        for i in hits:
            used[i] = True
        if lora and is_adapter_parameter(name):
            on = True
        elif lora and ".base_layer." in name:
            on = False
        else:
            on = bool(hits) and not any(r.fullmatch(name) for r in frozen_re) and name not in fixed
        p.requires_grad_(on)
        n_total += p.numel()
        if on:
            n_train += p.numel()
            names.append(name)
    unused = tuple(r.pattern for r, u in zip(train_re, used) if not u)
    if train_re and len(unused) == len(train_re):
        raise ConfigError(
            f"train.trainable: {list(unused)} match no parameter name; names look like "
            f"{[n for n, _ in list(model.named_parameters())[:3]]} (see docs/training.md, 'Freezing')"
        )
    if not names:
        raise ConfigError("no parameter would train: check train.trainable, train.frozen and lora.enabled")
    return TrainableSummary(n_train, n_total, tuple(names), unused)
