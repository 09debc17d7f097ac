"""Training losses as sums, so that the loop can normalise by the global number of targets.

A step's loss is ``Σ token losses / N`` with ``N`` the target tokens of the whole step (all
micro-batches of all ranks): each rank back-propagates its own sum divided by that ``N``, and the
sum over ranks is exactly the single-process loss of the same global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from auricle.data.examples import IGNORE_INDEX


@dataclass
class LossSums:
    """Summed losses and counts of one micro-batch (tensors, still attached to the graph)."""

    lm: torch.Tensor  # Σ cross-entropy over target tokens
    correct: torch.Tensor  # target tokens predicted right by argmax (no grad)
    ctc: torch.Tensor | None = None  # Σ CTC loss over the examples that take one


def target_rows(labels: torch.Tensor) -> torch.Tensor:
    """[B, S] bool: the input positions whose next token is a target (pass as ``logit_rows``)."""
    rows = torch.zeros_like(labels, dtype=torch.bool)
    rows[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return rows


def lm_loss_sums(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ CE, # argmax-correct) of next-token prediction; ``labels`` are aligned with the inputs.

    ``logits`` are either [B, S, V] over every position or [N, V] at the :func:`target_rows` only
    (the cheap form training uses); the picked rows are cast to fp32. ``label_smoothing`` ε mixes
    each one-hot target with ε of a uniform distribution over the vocabulary (training only).
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    picked = (logits if logits.dim() == 2 else logits[:, :-1][keep]).float()  # [N, V]
    gold = targets[keep]
    total = F.cross_entropy(picked, gold, reduction="sum", label_smoothing=label_smoothing)
    correct = (picked.detach().argmax(-1) == gold).sum()
    return total, correct


class CTCHead(nn.Module):
    """Linear map from audio states (encoder output or LLM audio embeddings) to CTC classes (0 = blank)."""

    def __init__(self, d_model: int, classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, classes)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, T, classes] in fp32."""
        return F.log_softmax(self.proj(states).float(), dim=-1)


def ctc_loss_sum(
    head: CTCHead,
    states: torch.Tensor,
    frames: torch.Tensor,
    audio_rows: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
) -> torch.Tensor:
    """Σ CTC loss of the selected audios; ``states`` [A, T, d] and ``frames`` [A] from the encoder.

    Transcripts longer than their audio allows give zero loss (``zero_infinity``) instead of inf.
    """
    log_probs = head(states[audio_rows])  # [K, T, C]
    return F.ctc_loss(
        log_probs.transpose(0, 1),
        targets,
        frames[audio_rows],
        target_lengths,
        blank=0,
        reduction="sum",
        zero_infinity=True,
    )
