"""Logit processing and token selection, as small pure functions on [B, V] logits.

The semantics follow the Hugging Face ``generate`` processors, applied in the same order:
repetition penalty, then (when sampling) temperature, top-k, top-p, and a draw from the softmax.
"""

from __future__ import annotations

import torch


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Penalise the ids already in the sequence: positive logits are divided by ``penalty``, negative
    ones multiplied (CTRL / Hugging Face semantics). ``seen`` is a bool mask [B, V] of those ids."""
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (and any tied with the k-th); the rest become -inf."""
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely ids whose probabilities sum to at least ``p``.

    Ids are dropped from the unlikely end while the probability mass below them stays ``<= 1 - p``;
    the single most likely id is always kept.
    """
    ascending, order = torch.sort(logits, dim=-1)
    mass_below = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = mass_below <= 1 - p
    drop_sorted[:, -1] = False
    drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one id per row [B] from ``softmax(filtered logits / temperature)``.

    ``top_k=0`` and ``top_p=1.0`` disable those filters. The draw uses ``generator`` so a seeded
    generator makes the result reproducible.
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    if top_k > 0:
        logits = top_k_filter(logits, top_k)
    if top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely id per row [B] (the lowest id among exact ties, as ``argmax`` does)."""
    return logits.argmax(dim=-1)
