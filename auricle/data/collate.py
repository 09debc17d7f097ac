"""Batches of tokenized examples: right-padded ids and labels, and log-mel features of every audio.

Features are computed here, so with DataLoader workers they are computed in the workers, on the fly.
Audios are ordered row by row and, within a row, in span order: the order in which
:meth:`auricle.model.AudioLM.forward` fills the placeholder spans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from auricle.audio.features import audio_token_count, log_mel
from auricle.data.examples import IGNORE_INDEX, CachedAudio, TokenizedExample
from auricle.model.encoder import conv_lengths, pooled_lengths


@dataclass
class Batch:
    """One micro-batch as tensors (``B`` rows of ``S`` tokens, ``A`` audios of ``T`` mel frames).

    ``labels`` are aligned with ``input_ids`` (the loss shifts them). ``ctc_*`` hold the CTC
    targets of the examples that take CTC loss: concatenated labels, their lengths, and the mel row
    of each one's audio. ``keys`` are the stream positions (:class:`~auricle.data.sampler.SampleKey`).
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

    def audio_inputs(self, start_layer: int = 0) -> dict[str, Any]:
        """Keyword arguments of :meth:`AudioLM.forward` for this batch's audio (mel or cached states)."""
        if self.encoder_states is not None:
            return {"encoder_states": (self.encoder_states, self.encoder_lengths, start_layer)}
        return {"mel": self.mel, "mel_frames": self.mel_frames}

    def audio_token_lengths(self, n_ctx: int) -> torch.Tensor:
        """Audio tokens per audio [A] (what the encoder gives each, before learned bos/eos rows)."""
        if self.encoder_states is not None:
            return pooled_lengths(self.encoder_lengths)
        return pooled_lengths(conv_lengths(self.mel_frames.to(torch.long), n_ctx))

    @property
    def num_targets(self) -> int:
        """Positions that take LM loss (labels shifted by one, as in the loss)."""
        return int((self.labels[:, 1:] != IGNORE_INDEX).sum())

    @property
    def real_rows(self) -> list[int]:
        """Rows holding an example of the batch (not a loss-free stand-in, see SampleKey.padding)."""
        return [i for i, k in enumerate(self.keys) if not getattr(k, "padding", False)]

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
        width = max(len(it) for it in items)
        b = len(items)
        input_ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        labels = torch.full((b, width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        audios, ctc_targets, ctc_lengths, ctc_audio = [], [], [], []
        for row, it in enumerate(items):
            n = len(it)
            input_ids[row, :n] = torch.tensor(it.input_ids, dtype=torch.long)
            labels[row, :n] = torch.tensor(it.labels, dtype=torch.long)
            mask[row, :n] = 1
            if it.ctc_targets:
                ctc_targets += it.ctc_targets
                ctc_lengths.append(len(it.ctc_targets))
                ctc_audio.append(len(audios))  # the example's first audio in span order
            audios += it.audios
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
            prompt_lengths=[it.prompt_length for it in items],
            ids=[it.id for it in items],
            tasks=[it.task for it in items],
            keys=[it.key for it in items],
            ctc_targets=torch.tensor(ctc_targets, dtype=torch.long) if has_ctc else None,
            ctc_lengths=torch.tensor(ctc_lengths, dtype=torch.long) if has_ctc else None,
            ctc_audio=torch.tensor(ctc_audio, dtype=torch.long) if has_ctc else None,
        )
