"""Periodic validation: loss and token accuracy over validation batches, and a quick decode metric.

Every rank runs the same calls (FSDP needs all of them in every forward): loss batches are sharded
like training batches and summed over ranks; the decoded examples are the same on every rank.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable

import torch

from auricle.data.collate import Batch
from auricle.data.dataset import ManifestDataset
from auricle.data.examples import IGNORE_INDEX, TokenizedExample
from auricle.errors import AuricleError
from auricle.eval.metrics import error_rate
from auricle.generate.config import GenerationConfig
from auricle.generate.engine import generate
from auricle.model.audiolm import AudioLM
from auricle.tokenizer import Tokenizer
from auricle.train.distributed import DistInfo, all_reduce_sum
from auricle.train.losses import lm_loss_sums, target_rows


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    info: DistInfo,
    autocast: Callable[[], contextlib.AbstractContextManager],
    max_batches: int = 0,
) -> dict[str, float]:
    """Mean target-token loss, perplexity and argmax accuracy over (at most ``max_batches``) batches."""
    total = correct = count = 0.0
    for n, batch in enumerate(batches):
        if max_batches and n >= max_batches:
            break
        batch = batch.to(info.device)
        with autocast():
            logits = model(
                batch.input_ids,
                batch.attention_mask,
                mel=batch.mel,
                mel_frames=batch.mel_frames,
                logit_rows=target_rows(batch.labels),
            )
        s, c = lm_loss_sums(logits, batch.labels)
        total += s.item()
        correct += c.item()
        count += batch.num_targets
    total, correct, count = all_reduce_sum([total, correct, count], info)
    loss = total / max(count, 1.0)
    return {"loss": loss, "ppl": math.exp(min(loss, 50.0)), "accuracy": correct / max(count, 1.0)}


@torch.no_grad()
def decode_metrics(
    model: AudioLM,
    dataset: ManifestDataset,
    tokenizer: Tokenizer,
    collate: Callable,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager],
    n_examples: int,
    max_new_tokens: int,
) -> dict[str, float]:
    """Greedy-decode the first ``n_examples`` validation examples: word error rate and exact match.

    Prompt and reference come from the example's own rendering (prompt = everything before the first
    target token; reference = that first run of target tokens, i.e. the first assistant turn of a
    chat), decoded without special tokens.
    """
    items = [dataset[i] for i in range(min(n_examples, len(dataset)))]
    if not items:
        return {}
    batch = collate(items)
    prompts = [it.input_ids[: it.prompt_length] for it in items]
    refs = [tokenizer.decode(_first_target(it), skip_special_tokens=True).strip() for it in items]
    config = GenerationConfig(max_new_tokens=max_new_tokens, vocab_limit=len(tokenizer))
    with autocast():
        results = generate(
            model, prompts, mel=batch.mel.to(device), mel_frames=batch.mel_frames.to(device), config=config
        )
    hyps = [tokenizer.decode(r.token_ids, skip_special_tokens=True).strip() for r in results]
    try:
        wer = error_rate(refs, hyps)
    except (AuricleError, ValueError):
        wer = float("nan")
    exact = sum(r.lower() == h.lower() for r, h in zip(refs, hyps)) / len(items)
    return {"wer": wer, "exact": exact}


def _first_target(item: TokenizedExample) -> list[int]:
    """The contiguous target ids that start at the item's prompt length."""
    out = []
    for t in item.labels[item.prompt_length :]:
        if t == IGNORE_INDEX:
            break
        out.append(t)
    return out
