"""Beam search over the engine's batch: ``num_beams`` hypotheses per prompt, one decode step for all.

The scoring and stopping rules are transformers' (``early_stopping=False``), so the same weights
give the same tokens:

- every step keeps the ``2·K`` best continuations (``(1 + stop ids)·K`` with several stop ids) of
  the ``K`` running beams by summed log-probability; those of the first ``K`` that end with a stop
  token (or reach ``max_new_tokens``) become finished hypotheses, scored ``sum log p /
  length ** length_penalty`` (length in new tokens, the stop token included); the best ``K`` that
  do not end run on;
- a prompt is done once it holds ``K`` finished hypotheses and its best running beam, normalised at
  its current length, scores no better than the worst of them.

Log-probabilities come from the raw logits; the engine's rules (vocab limit, ``min_new_tokens``,
timestamp and UTF-8 rules, repetition penalty) then remove or penalise ids, as transformers'
logits processors do. Prompts are independent: a done prompt's beams leave the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from auricle.generate.config import GenerationConfig, GenerationResult
from auricle.generate.stopping import DecodeFn


class _Batch(Protocol):
    def step(self, tok: torch.Tensor, step: int) -> torch.Tensor: ...
    def select(self, rows: torch.Tensor) -> None: ...


class _Chooser(Protocol):
    stop_t: torch.Tensor

    def constrain(self, logits: torch.Tensor, step: int) -> torch.Tensor: ...
    def advance(self, tok: torch.Tensor) -> None: ...
    def select(self, rows: torch.Tensor) -> None: ...


@dataclass
class _Hypotheses:
    """One prompt's finished hypotheses (at most ``size``, best first) and whether it is done."""

    size: int
    length_penalty: float
    done: bool = False
    finished: list[tuple[float, list[int], bool]] = field(default_factory=list)  # score, ids, stopped

    def add(self, logprob: float, ids: list[int], stopped: bool) -> None:
        score = logprob / len(ids) ** self.length_penalty
        self.finished.append((score, ids, stopped))
        self.finished.sort(key=lambda h: -h[0])  # stable: an earlier hypothesis wins a tie
        del self.finished[self.size :]

    def check_done(self, best_running: float, length: int) -> None:
        """Done when full and the best running beam cannot beat the worst finished one."""
        if (
            len(self.finished) == self.size
            and best_running / length**self.length_penalty <= self.finished[-1][0]
        ):
            self.done = True


def beam_search(
    batch: _Batch,
    chooser: _Chooser,
    logits: torch.Tensor,
    cfg: GenerationConfig,
    prompt_lens: Sequence[int],
    decode_fn: DecodeFn | None,
) -> list[GenerationResult]:
    """Run beam search from the prefill ``logits`` [B, V] of ``B`` prompts; the best hypothesis of each.

    ``batch.select`` and ``chooser.select`` first repeat each prompt's row ``K`` times, then reorder
    the rows as the beams move.
    """
    k = cfg.num_beams
    n_prompts = logits.shape[0]
    device = logits.device
    n_stops = int(chooser.stop_t.numel())
    width = max(2, 1 + n_stops) * k
    stop_ids = set(chooser.stop_t.tolist())
    hyps = [_Hypotheses(k, cfg.length_penalty) for _ in range(n_prompts)]

    rows = torch.arange(n_prompts, device=device).repeat_interleave(k)
    batch.select(rows)
    chooser.select(rows)
    logits = logits[rows]
    # only the first beam of a prompt starts live, so the K beams do not all pick the same ids
    running = torch.full((n_prompts, k), -1e9, device=device)
    running[:, 0] = 0.0
    history: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(n_prompts)]
    active = list(range(n_prompts))  # the prompt of each group of K rows in the batch

    for step in range(cfg.max_new_tokens):
        last = step == cfg.max_new_tokens - 1
        logp = chooser.constrain(torch.log_softmax(logits.float(), dim=-1), step)
        vocab = logp.shape[-1]
        total = (logp.view(len(active), k, vocab) + running[:, :, None]).view(len(active), k * vocab)
        top_scores, top_idx = total.topk(min(width, k * vocab), dim=-1)
        beam_of, token_of = (top_idx // vocab).tolist(), (top_idx % vocab).tolist()
        scores = top_scores.tolist()

        next_rows, next_tokens, next_running, next_history = [], [], [], []
        for g, p in enumerate(active):
            hyp = hyps[p]
            chosen: list[tuple[int, int, float]] = []
            for rank, (b, t, s) in enumerate(zip(beam_of[g], token_of[g], scores[g])):
                stopped = t in stop_ids
                if stopped or last:
                    # a -inf hypothesis only when nothing else could be kept (an answer is always due)
                    if rank < k and not hyp.done and (s > float("-inf") or (last and not hyp.finished)):
                        hyp.add(s, history[p][b] + [t], stopped)
                elif len(chosen) < k:
                    chosen.append((b, t, s))
            while len(chosen) < k:  # only when nearly everything is forbidden: keep the row shapes
                chosen.append((0, next(iter(stop_ids), 0), -1e9))
            next_history.append([history[p][b] + [t] for b, t, _ in chosen])
            next_rows += [g * k + b for b, _, _ in chosen]
            next_tokens += [t for _, t, _ in chosen]
            next_running.append([s for _, _, s in chosen])
            hyp.check_done(chosen[0][2], step + 1)
        if last:
            break
        for p, h in zip(active, next_history):
            history[p] = h

        keep = [g for g, p in enumerate(active) if not hyps[p].done]
        if not keep:
            break
        reorder = torch.tensor(next_rows, device=device)
        tokens = torch.tensor(next_tokens, device=device)
        running = torch.tensor(next_running, device=device)
        if len(keep) < len(active):
            rows_kept = torch.tensor([g * k + j for g in keep for j in range(k)], device=device)
            reorder, tokens, running = reorder[rows_kept], tokens[rows_kept], running[keep]
            active = [active[g] for g in keep]
        batch.select(reorder)
        chooser.select(reorder)
        chooser.advance(tokens)
        logits = batch.step(tokens, step)

    return [_result(h, n, decode_fn) for h, n in zip(hyps, prompt_lens)]


def _result(hyp: _Hypotheses, prompt_len: int, decode_fn: DecodeFn | None) -> GenerationResult:
    _, ids, stopped = hyp.finished[0]
    text = decode_fn(ids[:-1] if stopped else ids) if decode_fn is not None else None
    return GenerationResult(
        token_ids=list(ids),
        finish_reason="stop" if stopped else "length",
        text=text,
        stop=ids[-1] if stopped else None,
        prompt_tokens=prompt_len,
    )
