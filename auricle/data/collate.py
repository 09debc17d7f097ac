"""Batches of tokenized examples: right-padded ids and labels, and log-mel features of every audio.

Features are computed here, so with DataLoader workers they are computed in the workers, on the fly.
Audios are ordered row by row and, within a row, in span order: the order in which
:meth:`auricle.model.AudioLM.forward` fills the placeholder spans.

**Packing.** Examples loaded for one sampler unit (``SampleKey.unit``: the same audio, see
:class:`~auricle.data.sampler.BucketBatchSampler`) become one row: their longest common prefix of
ids (at least through the audio, and ending before any target) once, then each example's
continuation. ``positions`` restart each continuation at the prefix length and ``branches`` keeps
the continuations from seeing each other, so every target gets exactly the logits it would get
in a row of its own, while the audio and prefix are computed once for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from auricle.audio.features import audio_token_count, log_mel
from auricle.data.examples import IGNORE_INDEX, CachedAudio, TokenizedExample
from auricle.model.encoder import conv_lengths, pooled_lengths, stacked_lengths


@dataclass
class Batch:
    """One micro-batch as tensors (``B`` rows of ``S`` tokens, ``A`` audios of ``T`` mel frames).

    ``labels`` are aligned with ``input_ids`` (the loss shifts them). ``ctc_*`` hold the CTC
    targets of the examples that take CTC loss: concatenated labels, their lengths, and the mel row
    of each one's audio. ``keys`` are the stream positions (:class:`~auricle.data.sampler.SampleKey`).
    ``prompt_lengths``, ``ids``, ``tasks`` and ``keys`` have one entry per example; with packed rows
    there are more examples than rows, and ``rows`` gives each example's row.
    """

    input_ids: torch.Tensor  # [B, S] long
    labels: torch.Tensor  # [B, S] long, IGNORE_INDEX off target
    attention_mask: torch.Tensor  # [B, S] long, 1 = real token
    mel: torch.Tensor | None  # [A, n_mels, T] float32 (None when encoder states are cached)
    mel_frames: torch.Tensor | None  # [A] long, frames counted by the length rule
    prompt_lengths: list[int]
    ids: list[str]
    tasks: list[str]
    keys: list[Any]
    ctc_targets: torch.Tensor | None = None  # [sum of lengths] long
    ctc_lengths: torch.Tensor | None = None  # [K] long
    ctc_audio: torch.Tensor | None = None  # [K] long, rows of `mel`
    encoder_states: torch.Tensor | None = None  # [A, C_max, d] cached states (see encoder_cache)
    encoder_lengths: torch.Tensor | None = None  # [A] long, valid positions of each
    encoder_pooled: bool = False  # the states are the whole encoder's pooled output (lengths: tokens)
    positions: torch.Tensor | None = None  # [B, S] long, set when a row is packed
    branches: torch.Tensor | None = None  # [B, S] long, 0 = shared prefix, k = k-th continuation
    rows: list[int] | None = None  # row of each example (None: example i is row i)

    def audio_inputs(self, start_layer: int = 0) -> dict[str, Any]:
        """Keyword arguments of :meth:`AudioLM.forward` for this batch's audio (mel or cached
        states) and, when rows are packed, its positions and branches."""
        packed = {"positions": self.positions, "branches": self.branches} if self.branches is not None else {}
        if self.encoder_states is not None:
            states = (self.encoder_states, self.encoder_lengths, start_layer, self.encoder_pooled)
            return {"encoder_states": states, **packed}
        return {"mel": self.mel, "mel_frames": self.mel_frames, **packed}

    def audio_token_lengths(self, n_ctx: int, stack: int = 1) -> torch.Tensor:
        """Audio tokens per audio [A] (what the encoder gives each, before learned bos/eos rows);
        ``stack`` is the encoder's."""
        if self.encoder_states is not None:
            pooled = self.encoder_lengths if self.encoder_pooled else pooled_lengths(self.encoder_lengths)
        else:
            pooled = pooled_lengths(conv_lengths(self.mel_frames.to(torch.long), n_ctx))
        return stacked_lengths(pooled, stack)

    @property
    def num_targets(self) -> int:
        """Positions that take LM loss (labels shifted by one, as in the loss)."""
        return int((self.labels[:, 1:] != IGNORE_INDEX).sum())

    @property
    def real_rows(self) -> list[int]:
        """Rows holding an example of the batch (not a loss-free stand-in, see SampleKey.padding)."""
        rows = self.rows if self.rows is not None else range(len(self.keys))
        return sorted({r for r, k in zip(rows, self.keys) if not getattr(k, "padding", False)})

    @property
    def num_examples(self) -> int:
        """Examples of the batch (several per row when rows are packed), stand-ins excluded."""
        return sum(1 for k in self.keys if not getattr(k, "padding", False))

    @property
    def num_tokens(self) -> int:
        """Tokens of the real rows, without padding."""
        return int(self.attention_mask[self.real_rows].sum())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor moved to ``device``."""
        moved = {
            f.name: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }
        return Batch(**moved)

    def pin_memory(self) -> Batch:
        """Called by ``DataLoader(pin_memory=True)``."""
        pinned = {
            f.name: (v.pin_memory() if isinstance(v, torch.Tensor) else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }
        return Batch(**pinned)


class Collator:
    """``collate_fn`` for a DataLoader of :class:`TokenizedExample` items.

    Args:
        pad_id: id written into padding positions (masked out by ``attention_mask``).
        n_mels: mel bins of the model's encoder.
        length_rule: the encoder's frame-count rule (``"floor"`` v1, ``"ceil"`` v2).
    """

    def __init__(self, pad_id: int, n_mels: int, length_rule: str) -> None:
        self.pad_id = pad_id
        self.n_mels = n_mels
        self.length_rule = length_rule

    def __call__(self, items: Sequence[TokenizedExample]) -> Batch:
        if not items:
            raise ValueError("cannot collate an empty batch")
        groups = _units(items)
        rows = [_pack(g) if len(g) > 1 else _Row.single(g[0]) for g in groups]
        width = max(len(r.ids) for r in rows)
        b = len(rows)
        input_ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        labels = torch.full((b, width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        packed = len(rows) < len(items)
        positions = torch.zeros((b, width), dtype=torch.long) if packed else None
        branches = torch.zeros((b, width), dtype=torch.long) if packed else None
        audios, ctc_targets, ctc_lengths, ctc_audio, example_rows = [], [], [], [], []
        for row, (r, group) in enumerate(zip(rows, groups)):
            n = len(r.ids)
            input_ids[row, :n] = torch.tensor(r.ids, dtype=torch.long)
            labels[row, :n] = torch.tensor(r.labels, dtype=torch.long)
            mask[row, :n] = 1
            if packed:
                positions[row, :n] = torch.tensor(r.positions, dtype=torch.long)
                branches[row, :n] = torch.tensor(r.branches, dtype=torch.long)
            for it in group:
                example_rows.append(row)
                if it.ctc_targets:
                    ctc_targets += it.ctc_targets
                    ctc_lengths.append(len(it.ctc_targets))
                    ctc_audio.append(len(audios))  # the row's first audio in span order
            audios += r.audios
        features = frames = states = lengths = None
        if audios and all(isinstance(a, CachedAudio) for a in audios):
            lengths = torch.tensor([a.states.shape[0] for a in audios], dtype=torch.long)
            states = torch.zeros(len(audios), int(lengths.max()), audios[0].states.shape[1])
            for i, a in enumerate(audios):
                states[i, : a.states.shape[0]] = a.states.float()
        elif audios:
            mel = log_mel(audios, self.n_mels)
            features = mel.features
            frames = audio_token_count(mel.num_samples, self.length_rule).mel_frames
        has_ctc = bool(ctc_lengths)
        return Batch(
            input_ids=input_ids,
            labels=labels,
            attention_mask=mask,
            mel=features,
            mel_frames=frames,
            encoder_states=states,
            encoder_lengths=lengths,
            encoder_pooled=states is not None and audios[0].pooled,
            prompt_lengths=[it.prompt_length for it in items],
            ids=[it.id for it in items],
            tasks=[it.task for it in items],
            keys=[it.key for it in items],
            ctc_targets=torch.tensor(ctc_targets, dtype=torch.long) if has_ctc else None,
            ctc_lengths=torch.tensor(ctc_lengths, dtype=torch.long) if has_ctc else None,
            ctc_audio=torch.tensor(ctc_audio, dtype=torch.long) if has_ctc else None,
            positions=positions,
            branches=branches,
            rows=example_rows if packed else None,
        )


@dataclass
class _Row:
    ids: list[int]
    labels: list[int]
    positions: list[int]
    branches: list[int]
    audios: list[Any]

    @classmethod
    def single(cls, it: TokenizedExample) -> _Row:
        n = len(it.input_ids)
        return cls(list(it.input_ids), list(it.labels), list(range(n)), [0] * n, list(it.audios))


def _units(items: Sequence[TokenizedExample]) -> list[list[TokenizedExample]]:
    """Consecutive items loaded for the same sampler unit, together; every other item alone."""
    groups: list[list[TokenizedExample]] = []
    last = -1
    for it in items:
        unit = getattr(it.key, "unit", -1)
        if unit >= 0 and unit == last:
            groups[-1].append(it)
        else:
            groups.append([it])
        last = unit
    return groups


def _pack(group: Sequence[TokenizedExample]) -> _Row:
    """One row for examples of one audio: the common prefix once, then each continuation."""
    first = group[0]
    prefix = min(len(it.input_ids) for it in group)
    for it in group[1:]:
        prefix = next((i for i in range(prefix) if it.input_ids[i] != first.input_ids[i]), prefix)
    # the prefix's last logits are shared, so they must not predict any continuation's target
    prefix = min(prefix, *(it.prompt_length - 1 for it in group))
    audio_end = max(it.audio_end for it in group)
    if prefix < audio_end or any(len(it.audios) != len(first.audios) for it in group):
        raise ValueError(
            f"cannot pack {[it.id for it in group]}: they share {prefix} ids but the audio ends at "
            f"{audio_end} (examples packed together must start with the same audio)"
        )
    for it in group[1:]:
        if not all(_same_audio(a, b) for a, b in zip(it.audios, first.audios)):
            raise ValueError(f"cannot pack {first.id!r} with {it.id!r}: their audios differ")
    row = _Row(
        first.input_ids[:prefix], first.labels[:prefix], list(range(prefix)), [0] * prefix, list(first.audios)
    )
    for k, it in enumerate(group, start=1):
        rest = len(it.input_ids) - prefix
        row.ids += it.input_ids[prefix:]
        row.labels += it.labels[prefix:]
        row.positions += range(prefix, len(it.input_ids))
        row.branches += [k] * rest
    return row


def _same_audio(a: Any, b: Any) -> bool:
    if isinstance(a, CachedAudio) and isinstance(b, CachedAudio):
        return a.num_samples == b.num_samples and torch.equal(a.states, b.states)
    if isinstance(a, CachedAudio) or isinstance(b, CachedAudio):
        return False
    return len(a) == len(b) and np.array_equal(a, b)
