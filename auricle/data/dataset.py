"""A map-style dataset over JSONL manifests: decode, augment and tokenize one example per access.

Lengths (the padded-token cost used by :class:`~auricle.data.sampler.BucketBatchSampler`) are
computed once, at construction, by rendering every example with its audio lengths read from the file
headers; examples that cannot be trained on are skipped and counted in :attr:`ManifestDataset.skipped`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from auricle.audio.features import N_SAMPLES, audio_token_count
from auricle.audio.io import load_audio
from auricle.data.augment import Augmentation, augment_audio, draw_speed, retime_example
from auricle.data.examples import (
    IGNORE_INDEX,
    CachedAudio,
    TokenizedExample,
    audio_num_samples,
    audio_path,
    tokenize_example,
)
from auricle.data.manifest import TASKS, Example, read_manifest
from auricle.data.sampler import SampleKey
from auricle.errors import ConfigError, PromptError
from auricle.prompt import PromptStyle, encode_example
from auricle.tokenizer import Tokenizer


class ManifestDataset(torch.utils.data.Dataset):
    """The examples of one or more manifests, each read as a :class:`TokenizedExample`.

    Args:
        manifests: JSONL manifest paths; audio paths inside are relative to each manifest's folder.
        tokenizer: the model's tokenizer.
        style: prompt style of the model (``"qwen-audio"`` or ``"qwen2-audio"``).
        length_rule: the encoder's mel-frame rule (``"floor"`` v1, ``"ceil"`` v2).
        audio_stack: the encoder's ``stack`` (pooled states per audio token; 1 in both official families).
        tasks: keep only these tasks (empty: all).
        max_tokens: skip examples whose sequence is longer.
        itn: ASR targets with inverse text normalisation.
        augment: waveform augmentation (training only).
        seed: augmentation seed (combined with each item's stream position).
        ctc_vocab, ctc_tasks: CTC targets (``"bytes"``/``"tokens"``) for examples of these tasks.
        limit: keep at most this many examples (0: all), e.g. for a quick validation set.
        encoder_cache: read encoder states cached after the frozen blocks (a mapping from an audio
            path to :class:`~auricle.data.examples.CachedAudio`) instead of decoding the audio;
            incompatible with ``augment``.
    """

    def __init__(
        self,
        manifests: Sequence[str | Path],
        tokenizer: Tokenizer,
        *,
        style: PromptStyle,
        length_rule: str,
        audio_stack: int = 1,
        tasks: Sequence[str] = (),
        max_tokens: int = 2048,
        itn: bool = False,
        augment: Augmentation | None = None,
        seed: int = 0,
        ctc_vocab: str | None = None,
        ctc_tasks: Sequence[str] = (),
        limit: int = 0,
        encoder_cache: Mapping[str, CachedAudio] | None = None,
    ) -> None:
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise ConfigError(f"data.tasks: unknown tasks {unknown}; valid tasks: {sorted(TASKS)}")
        if not manifests:
            raise ConfigError("no manifest given: set data.train (and data.valid) to JSONL manifest paths")
        self.tokenizer = tokenizer
        self.style = style
        self.length_rule = length_rule
        self.audio_stack = audio_stack
        self.itn = itn
        self.augment = augment if augment is not None and augment.active else None
        if encoder_cache is not None and self.augment is not None:
            raise ConfigError(
                "waveform augmentation cannot apply to cached encoder states: set data.augment.prob=0 "
                "(or train.cached_encoder_layers=0) and take augmentation from the corpus"
            )
        self.encoder_cache = encoder_cache
        self.seed = seed
        self.ctc_vocab = ctc_vocab
        self.ctc_tasks = frozenset(ctc_tasks)
        self.examples: list[Example] = []
        self.roots: list[Path] = []
        self.lengths: list[int] = []
        self.groups: list[str | None] = []  # the audio an example can share a packed row over
        self.shared: list[int] = []  # its ids up to the end of that audio
        self.skipped: Counter[str] = Counter()
        for manifest in manifests:
            manifest = Path(manifest)
            if not manifest.is_file():
                raise ConfigError(f"manifest {manifest} does not exist (make one with `auricle data synth`)")
            for ex in read_manifest(manifest):
                if tasks and ex.task not in tasks:
                    continue
                measured = self._length(ex, manifest.parent, max_tokens)
                if measured is None:
                    continue
                length, shared = measured
                self.examples.append(ex)
                self.roots.append(manifest.parent)
                self.lengths.append(length)
                packable = len(ex.audio) == 1 and ex.task != "chat"
                self.groups.append(str(audio_path(ex, 0, manifest.parent).resolve()) if packable else None)
                self.shared.append(shared)
                if limit and len(self.examples) >= limit:
                    break
        if not self.examples:
            raise ConfigError(
                f"no usable example in {[str(m) for m in manifests]} (tasks {list(tasks) or 'all'}); "
                f"skipped: {dict(self.skipped)}"
            )

    def _length(self, ex: Example, root: Path, max_tokens: int) -> tuple[int, int] | None:
        """(Sequence length, ids up to the end of the last audio) of ``ex`` at its real audio
        lengths, or None (counted) when it is skipped."""
        samples = [audio_num_samples(audio_path(ex, i, root)) for i in range(len(ex.audio))]
        if any(n > N_SAMPLES for n in samples):
            self.skipped["audio over 30 s"] += 1
            return None
        counts = [int(audio_token_count(n, self.length_rule, self.audio_stack).audio_tokens) for n in samples]
        if min(counts) < 1:
            self.skipped["audio too short"] += 1
            return None
        try:
            enc = encode_example(ex, self.tokenizer, counts, self.style, itn=self.itn or None)
        except PromptError as e:
            raise PromptError(f"example {ex.id!r} ({root}): {e}") from e
        n = len(enc.ids)
        if n > max_tokens:
            self.skipped["longer than data.max_tokens"] += 1
            return None
        return n, enc.audio_end

    @property
    def tasks(self) -> list[str]:
        """Task of each example (for mixture sampling)."""
        return [ex.task for ex in self.examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, key: SampleKey | int) -> TokenizedExample:
        if not isinstance(key, SampleKey):
            key = SampleKey(int(key), 0, 0, 0)
        ex = self.examples[key.index]
        paths = [audio_path(ex, i, self.roots[key.index]) for i in range(len(ex.audio))]
        if self.encoder_cache is not None:
            audios = [self.encoder_cache[p] for p in paths]
        else:
            audios = [load_audio(p) for p in paths]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, key.epoch, key.batch, key.slot])
            speed = draw_speed(self.augment, ex.task, rng)
            if max(len(a) for a in audios) > N_SAMPLES * speed:
                speed = 1.0  # slowed down past 30 s, the audio would lose the end of its target
            ex = retime_example(ex, speed)
            audios = [augment_audio(a, self.augment, speed, rng) for a in audios]
        ctc = self.ctc_vocab if ex.task in self.ctc_tasks else None
        item = tokenize_example(
            ex,
            audios,
            self.tokenizer,
            style=self.style,
            length_rule=self.length_rule,
            audio_stack=self.audio_stack,
            itn=self.itn,
            ctc_vocab=ctc,
        )
        item.key = key
        if key.padding:  # a stand-in on a rank the batch has no example for: no loss at all
            item.labels = [IGNORE_INDEX] * len(item.labels)
            item.ctc_targets = None
        return item
