"""Typed results of every task. Times are seconds from the start of the audio that was given.

All results are frozen dataclasses; ``dataclasses.asdict(result)`` (or :meth:`to_dict`) gives plain
JSON-ready data. Scores are probabilities in [0, 1]; what each one means is said where it is defined.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One word with its time span.

    ``word`` is the word as the model wrote it (no surrounding whitespace). ``repaired`` is True
    when at least one of its two times was not read as written from the model's output: missing
    (interpolated from its neighbours), out of order (dropped, then interpolated) or out of the
    audio (clamped).
    """

    word: str
    start: float
    end: float
    repaired: bool = False


@dataclass(frozen=True)
class Segment:
    """A stretch of transcript: a 30 s window, or a run of words between two silences."""

    id: int
    start: float
    end: float
    text: str
    words: list[Word] | None = None


@dataclass(frozen=True)
class Transcription:
    """The result of :meth:`AudioModel.transcribe` and :meth:`AudioModel.translate`.

    ``language`` is the spoken language (the one asked for, or detected); ``output_language`` the
    language of ``text`` (equal to ``language`` for a transcription). ``segments`` cover the audio in
    order; with word timestamps each segment carries its ``words``.
    """

    text: str
    language: str | None
    segments: list[Segment]
    duration: float
    task: str = "transcribe"
    output_language: str | None = None

    @property
    def words(self) -> list[Word]:
        """Every word of every segment, in order (empty without word timestamps)."""
        return [w for s in self.segments for w in (s.words or [])]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LanguageDetection:
    """The spoken language and a probability for every language the model has a tag for.

    The probabilities are a softmax over the scores of the candidate languages only: for Qwen-Audio
    the logits of the language-tag ids at the position after ``<|startoftranscript|>``; for
    Qwen2-Audio the log-probabilities of the text continuations ``<|xx|>``.
    """

    language: str
    probabilities: dict[str, float]

    @property
    def score(self) -> float:
        """Probability of the detected language."""
        return self.probabilities[self.language]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Label:
    """A class label with its probability (None where no score was computed)."""

    label: str
    score: float | None = None


@dataclass(frozen=True)
class Event:
    """A sound event with its time span, as the model wrote it (``repaired`` as for :class:`Word`)."""

    label: str
    start: float
    end: float
    repaired: bool = False


@dataclass(frozen=True)
class Classification:
    """The result of :meth:`AudioModel.classify`.

    Without candidates, ``label`` is the model's greedy answer and ``score`` the probability the
    model gives that whole answer: ``exp(sum of its token log-probabilities)``, the end token
    included. With ``candidates``, ``labels`` ranks every candidate by the softmax over candidates of
    their sequence log-probabilities, and ``label``/``score`` are the best one. ``events`` holds the
    timed events of an open ``event`` answer (tag prompts ask for them with ``<|timestamps|>``);
    ``label`` then lists their distinct labels.
    """

    kind: str
    label: str
    score: float | None
    labels: list[Label] = field(default_factory=list)
    text: str = ""
    events: list[Event] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Caption:
    """An audio caption."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Answer:
    """The answer to a question about an audio."""

    question: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NoteAnalysis:
    """Music note analysis: MIDI pitch and velocity (0..127), instrument family and sonic qualities.

    A field the model did not produce (or produced unreadably) is ``None`` / empty; ``text`` is the
    raw output for inspection.
    """

    pitch: int | None
    velocity: int | None
    instrument: str | None
    qualities: list[str]
    text: str

    @property
    def note_name(self) -> str | None:
        """Scientific pitch name of ``pitch`` (MIDI 60 = ``C4``), or None."""
        if self.pitch is None:
            return None
        names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
        return f"{names[self.pitch % 12]}{self.pitch // 12 - 1}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)


#: Every result type a task method returns.
Result = Transcription | LanguageDetection | Classification | Caption | Answer | NoteAnalysis
