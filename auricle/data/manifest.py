"""The JSONL manifest schema shared by the synthetic generator, dataset adapters and the trainer.

One line of a manifest is one :class:`Example`: audio references plus the task and its targets.
The full schema with examples is documented in docs/manifest.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Every task family the tag renderer supports, with the fields each one needs.
TASKS: dict[str, tuple[str, ...]] = {
    "asr": ("text",),  # transcription; `text_itn` optional
    "srwt": ("text", "words"),  # transcription with word timestamps
    "lid": ("language",),  # spoken-language identification
    "s2tt": ("text", "target_language"),  # speech translation: `text` is the translation
    "caption": ("text",),  # audio caption
    "scene": ("label",),  # acoustic scene classification
    "event": ("label",),  # sound event classification (`events` with times optional)
    "vocal": ("label",),  # vocal sound / speaker-vocal class
    "emotion": ("label",),  # emotion / prosody class
    "aqa": ("question", "text"),  # audio question answering: `text` is the answer
    "note_analysis": ("note",),  # music note: pitch, velocity, instrument, qualities
    "music_caption": ("text",),  # music description
    "chat": ("messages",),  # multi-turn ChatML conversation for SFT
}


@dataclass
class Word:
    """One word with its start and end time in seconds, relative to the start of its audio."""

    word: str
    start: float
    end: float


@dataclass
class Event:
    """One sound event with onset and offset in seconds."""

    label: str
    start: float
    end: float


@dataclass
class Example:
    """One training or evaluation example: one or more audios, a task, and its target.

    ``audio`` holds paths relative to the manifest's folder (or absolute). ``language`` is the
    spoken language of the audio (ISO 639-1, ``None`` for non-speech); ``target_language`` the
    language of the output text. ``messages`` (chat only) is a list of ``{"role", "content"}``
    dicts whose content is a list of ``{"type": "audio", "audio": index}`` / ``{"type": "text",
    "text": ...}`` items, ``index`` pointing into ``audio``.
    """

    id: str
    task: str
    audio: list[str]
    duration: float = 0.0
    language: str | None = None
    target_language: str | None = None
    text: str | None = None
    text_itn: str | None = None
    words: list[Word] | None = None
    label: str | None = None
    events: list[Event] | None = None
    question: str | None = None
    note: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    caption_style: str | None = None
    split: str = "train"
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the problem if the example is not valid for its task."""
        if self.task not in TASKS:
            raise ValueError(f"example {self.id!r}: unknown task {self.task!r}; valid tasks: {sorted(TASKS)}")
        if not self.audio:
            raise ValueError(f"example {self.id!r}: no audio")
        for name in TASKS[self.task]:
            if getattr(self, name) in (None, "", []):
                raise ValueError(f"example {self.id!r}: task {self.task!r} needs field {name!r}")
        if self.words:
            last = 0.0
            for w in self.words:
                if not (w.start <= w.end) or w.start < last - 1e-6:
                    raise ValueError(f"example {self.id!r}: word times not monotonic at {w}")
                last = w.end

    def to_json(self) -> str:
        """The example as one JSON line (``None`` fields left out, keys in schema order)."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != {}}
        return json.dumps(d, ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        """Build an example from a parsed JSON line; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"manifest line has unknown keys {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if d.get("words") is not None:
            d["words"] = [Word(**w) for w in d["words"]]
        if d.get("events") is not None:
            d["events"] = [Event(**e) for e in d["events"]]
        return cls(**d)


def read_manifest(path: str | Path) -> Iterator[Example]:
    """Yield the examples of a JSONL manifest, with a clear error naming the bad line."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Example.from_dict(json.loads(line))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: {e}") from e


def write_manifest(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as JSONL (one per line); returns the count written."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(ex.to_json() + "\n")
            n += 1
    return n
