"""Audio longer than the encoder's 30 s: windows for transcription, consecutive spans for chat and QA.

**Transcription and translation** cut the audio at pauses into windows of at most 30 s
(:func:`auricle.audio.split_on_silence`), run every window as its own request, and merge the
window results with each window's time offset (:func:`merge_windows`). Seams are checked: a word
the model reports at the end of one window and again at the start of the next (a word cut in two
when no pause was found, or a repeated phrase) is kept once.

**Chat, QA, captions and classification** need the whole audio in one prompt. The audio is cut
into consecutive 30 s windows (:func:`consecutive_windows`), each encoded on its own, and the
windows enter the prompt as consecutive audio spans, one after another with nothing in between
(v1: ``<audio>…</audio><audio>…</audio>``, v2: ``<|audio_bos|>…<|audio_eos|><|audio_bos|>…``).
Several spans rather than one concatenated span, because each window then gets the encoder
context and boundary embeddings the model was trained with. The total length is capped
(:data:`DEFAULT_MAX_SECONDS`, 5 minutes by default) with a clear error beyond it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from auricle.audio import SAMPLE_RATE, split_on_silence
from auricle.errors import AudioError
from auricle.prompt.segments import Audio, Rendered, Segment
from auricle.tasks.results import Segment as TranscriptSegment
from auricle.tasks.results import Word
from auricle.tasks.srwt import Unit, join_words

#: Longest window the encoder accepts, in seconds.
WINDOW_SECONDS = 30.0
#: Default cap on one audio in chat, QA, captioning and classification, in seconds.
DEFAULT_MAX_SECONDS = 300.0
#: Shortest window given to the model: 30 ms, the encoder's minimum for one embedding.
MIN_WINDOW_SAMPLES = 480
#: A word at most this far from a seam, on both sides, may be a duplicate of its neighbour across it.
SEAM_TOLERANCE = 1.0


@dataclass(frozen=True)
class Window:
    """One piece of a long audio: samples ``[start, end)`` of the original."""

    start: int
    end: int

    @property
    def offset(self) -> float:
        """Start time in seconds."""
        return self.start / SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return (self.end - self.start) / SAMPLE_RATE

    def cut(self, audio: np.ndarray) -> np.ndarray:
        """The window's samples, zero-padded to the encoder's minimum when shorter."""
        piece = audio[self.start : self.end]
        if len(piece) < MIN_WINDOW_SAMPLES:
            piece = np.pad(piece, (0, MIN_WINDOW_SAMPLES - len(piece)))
        return piece


def silence_windows(audio: np.ndarray, max_seconds: float = WINDOW_SECONDS) -> list[Window]:
    """Windows of at most ``max_seconds`` cut at pauses (for transcription and translation)."""
    return [Window(s, e) for s, e in split_on_silence(audio, max_seconds=max_seconds)]


def consecutive_windows(
    audio: np.ndarray, *, max_seconds: float = DEFAULT_MAX_SECONDS, what: str = "the audio"
) -> list[Window]:
    """Back-to-back 30 s windows (the last one shorter) for chat and QA.

    A last window shorter than 30 ms (too short for one encoder embedding) is left out.

    Raises:
        AudioError: the audio is longer than ``max_seconds``.
    """
    n = len(audio)
    if n > max_seconds * SAMPLE_RATE:
        raise AudioError(
            f"{what} is {n / SAMPLE_RATE:.1f} s long; this task takes at most {max_seconds:g} s of audio "
            "(raise max_audio_seconds, or transcribe it: transcription has no length limit)"
        )
    step = int(WINDOW_SECONDS * SAMPLE_RATE)
    windows = [Window(s, min(s + step, n)) for s in range(0, n, step)]
    if len(windows) > 1 and windows[-1].end - windows[-1].start < MIN_WINDOW_SAMPLES:
        windows.pop()  # a tail under 30 ms: too short for one encoder embedding
    return windows


def expand_audio_slots(
    prompt: Sequence[Segment] | Rendered, groups: Sequence[Sequence[int]]
) -> list[Segment] | Rendered:
    """Replace every ``Audio(i)`` by ``Audio(j)`` for each ``j`` in ``groups[i]``, in place.

    ``groups[i]`` lists the window audios of original audio ``i``; the result's audio indices point
    into the flattened list of windows.
    """

    def expand(segments: Sequence[Segment], flags: Sequence[bool] | None):
        out, out_flags = [], []
        for n, seg in enumerate(segments):
            parts = [Audio(j) for j in groups[seg.index]] if isinstance(seg, Audio) else [seg]
            out += parts
            if flags is not None:
                out_flags += [flags[n]] * len(parts)
        return out, out_flags

    if isinstance(prompt, Rendered):
        segs, flags = expand(prompt.segments, prompt.target)
        return Rendered(tuple(segs), tuple(flags))
    return expand(prompt, None)[0]


# ------------------------------------------------------------------------------------------- merging


@dataclass(frozen=True)
class WindowOutput:
    """What the model produced for one window: SRWT units (times relative to the window) or text."""

    window: Window
    units: list[Unit] | None = None
    text: str = ""


def merge_windows(outputs: Sequence[WindowOutput], language: str | None) -> list[TranscriptSegment]:
    """Transcript segments of the whole audio from per-window outputs, in time order.

    With units (word timestamps), words are shifted by their window's offset, duplicates across a
    seam are removed (see :func:`_drop_seam_duplicates`), and segments are runs of words between
    silences (``<|sil|>``) or window boundaries. Without, each window with text is one segment.
    """
    segments: list[TranscriptSegment] = []
    if all(o.units is None for o in outputs):
        for o in outputs:
            text = " ".join(o.text.split())
            if text:
                w = o.window
                segments.append(
                    TranscriptSegment(
                        len(segments), round(w.offset, 3), round(w.offset + w.duration, 3), text
                    )
                )
        return segments

    runs: list[list[Word]] = []  # runs of words, each becomes a segment
    merged: list[Word] = []
    for o in outputs:
        seam = o.window.offset
        current: list[Word] = []
        window_runs: list[list[Word]] = []
        for unit in o.units or []:
            if unit.kind == "sil":
                if current:
                    window_runs.append(current)
                current = []
            else:
                current.append(unit.to_word(o.window.offset))
        if current:
            window_runs.append(current)
        if merged and window_runs:
            window_runs[0] = _drop_seam_duplicates(merged, window_runs[0], seam, runs)
            window_runs = [r for r in window_runs if r]
        for run in window_runs:
            merged += run
            runs.append(run)
    for run in runs:
        text = join_words([w.word for w in run], language)
        segments.append(TranscriptSegment(len(segments), run[0].start, run[-1].end, text, list(run)))
    return segments


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.casefold())


def _drop_seam_duplicates(
    merged: list[Word], head: list[Word], seam: float, runs: list[list[Word]]
) -> list[Word]:
    """``head`` (the first words after ``seam``) without the words that repeat the end of ``merged``.

    The longest k such that the last k merged words and the first k new words have the same text
    and all lie within :data:`SEAM_TOLERANCE` of the seam counts as a duplicate. For k = 1 that is a
    word cut in two by the window boundary: the two halves become one word spanning both. For
    k > 1 the new copy is dropped. ``merged`` and the last run are updated in place.
    """
    limit = min(len(merged), len(head), 8)
    for k in range(limit, 0, -1):
        old, new = merged[-k:], head[:k]
        if [_norm(w.word) for w in old] != [_norm(w.word) for w in new]:
            continue
        if any(w.end < seam - SEAM_TOLERANCE for w in old) or any(
            w.start > seam + SEAM_TOLERANCE for w in new
        ):
            continue
        if k == 1:
            joined = replace(
                old[0], end=max(old[0].end, new[0].end), repaired=old[0].repaired or new[0].repaired
            )
            merged[-1] = joined
            runs[-1][-1] = joined
        return head[k:]
    return head


def join_texts(texts: Sequence[str], language: str | None) -> str:
    """Window texts joined into one transcript."""
    return join_words([t for t in texts if t.strip()], language)
