"""Manifest examples to training sequences: ids rendered by the shared prompt code, labels, audios.

The prompt and target come from :func:`auricle.prompt.encode_example` (hierarchical tags for the
task families, ChatML for ``chat``), the same renderer inference uses. Labels equal the ids on
target positions and ``IGNORE_INDEX`` everywhere else (prompt, audio, system and user turns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from auricle.audio.features import audio_token_count
from auricle.audio.io import SAMPLE_RATE, load_audio
from auricle.data.manifest import Example
from auricle.errors import AudioError
from auricle.prompt import PromptStyle, encode_example
from auricle.tokenizer import Tokenizer

IGNORE_INDEX = -100  # label of positions without loss (torch's cross-entropy default)


@dataclass
class CachedAudio:
    """Encoder states of one audio after frozen blocks (see auricle.train.encoder_cache).

    It stands in for a waveform in :class:`TokenizedExample`; ``len()`` is the waveform's sample
    count, so token counts are computed exactly as for the waveform.
    """

    states: Any  # torch.Tensor [C, d_model·(1 + taps)], or [N tokens, …] when pooled
    num_samples: int
    pooled: bool = False  # the whole encoder's average-pooled output, not yet normalised

    def __len__(self) -> int:
        return self.num_samples


@dataclass
class TokenizedExample:
    """One training sequence.

    ``audios`` are the waveforms (or :class:`CachedAudio` encoder states) in the order of their
    placeholder spans in ``input_ids`` (an audio used twice appears twice). ``prompt_length`` is the number of ids before the first target
    (what a model is given at inference). ``ctc_targets`` are the CTC label ids of the transcript,
    ``None`` when the example takes no CTC loss.
    """

    id: str
    task: str
    input_ids: list[int]
    labels: list[int]
    audios: list[np.ndarray | CachedAudio]
    prompt_length: int
    ctc_targets: list[int] | None = None
    audio_end: int = 0  # ids up to the end of the last audio span (a packed row's least prefix)
    key: Any = None  # the SampleKey it was loaded for (stream position), when loaded by a sampler

    def __len__(self) -> int:
        return len(self.input_ids)


def audio_path(example: Example, index: int, root: str | Path) -> Path:
    """Absolute path of audio ``index`` of ``example`` (manifest paths are relative to its folder)."""
    p = Path(example.audio[index])
    return p if p.is_absolute() else Path(root) / p


def audio_num_samples(path: str | Path) -> int:
    """Number of 16 kHz samples the audio at ``path`` decodes to, from its header when possible."""
    try:
        info = sf.info(str(path))
        return int(round(info.frames * SAMPLE_RATE / info.samplerate))
    except (RuntimeError, sf.LibsndfileError):
        return len(load_audio(path))  # a container soundfile cannot read: decode it
    except OSError as e:
        raise AudioError(f"cannot read audio {path}: {e}") from e


def tokenize_example(
    example: Example,
    audios: Sequence[np.ndarray | CachedAudio],
    tokenizer: Tokenizer,
    *,
    style: PromptStyle,
    length_rule: str,
    audio_stack: int = 1,
    itn: bool = False,
    ctc_vocab: str | None = None,
) -> TokenizedExample:
    """Render and encode ``example`` with its decoded ``audios`` (16 kHz mono, manifest order).

    ``ctc_vocab`` (``"bytes"`` or ``"tokens"``) adds CTC targets for the transcript in ``text``.
    """
    counts = [int(audio_token_count(len(a), length_rule, audio_stack).audio_tokens) for a in audios]
    short = [i for i, n in enumerate(counts) if n < 1]
    if short:
        raise AudioError(
            f"example {example.id!r}: audio {short[0]} is too short for one audio token "
            f"({len(audios[short[0]])} samples, about 0.03 s); drop it from the manifest"
        )
    enc = encode_example(example, tokenizer, counts, style, itn=itn or None)
    mask = enc.target_mask or [False] * len(enc.ids)
    labels = [t if m else IGNORE_INDEX for t, m in zip(enc.ids, mask)]
    prompt_length = mask.index(True) if True in mask else len(enc.ids)
    ctc = None
    if ctc_vocab is not None and example.text:
        ctc = ctc_label_ids(example.text, ctc_vocab, tokenizer)
    return TokenizedExample(
        id=example.id,
        task=example.task,
        input_ids=list(enc.ids),
        labels=labels,
        audios=[_as_audio(audios[i]) for i in enc.audio_indices],
        prompt_length=prompt_length,
        ctc_targets=ctc,
        audio_end=enc.audio_end,
    )


def _as_audio(a: np.ndarray | CachedAudio) -> np.ndarray | CachedAudio:
    return a if isinstance(a, CachedAudio) else np.asarray(a, dtype=np.float32)


def ctc_label_ids(text: str, vocab: str, tokenizer: Tokenizer) -> list[int]:
    """CTC labels of a transcript: UTF-8 bytes + 1 or token ids + 1 (0 is the CTC blank)."""
    ids = list(text.strip().encode("utf-8")) if vocab == "bytes" else tokenizer.encode_text(text.strip())
    return [i + 1 for i in ids]


def ctc_classes(vocab: str, tokenizer: Tokenizer) -> int:
    """Output size of the CTC head: blank + 256 bytes, or blank + the tokenizer's vocabulary."""
    return 257 if vocab == "bytes" else len(tokenizer) + 1
