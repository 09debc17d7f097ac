"""Write task results to files: txt, json, srt, vtt, tsv (whisper-style ``get_writer``).

Every writer is called as ``writer(result, audio_path, word_timestamps=False)`` and writes
``<output_dir>/<audio file stem>.<extension>``. Transcripts (transcription / translation) can be
written in every format; other results (captions, answers, labels, notes, languages) in txt and
json only. With ``word_timestamps=True`` and a transcript that has word times:

* json adds a ``words`` list to every segment (they are left out otherwise);
* srt writes one cue per word;
* vtt keeps one cue per segment and puts a WebVTT cue timestamp ``<00:00:01.250>`` before each
  word after the first, so players highlight words as they are spoken (karaoke style).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TextIO

from auricle.errors import ConfigError
from auricle.tasks.results import (
    Classification,
    LanguageDetection,
    NoteAnalysis,
    Result,
    Segment,
    Transcription,
    Word,
)
from auricle.tasks.srwt import NO_SPACE_LANGUAGES


def format_timestamp(seconds: float, decimal_marker: str = ".", always_include_hours: bool = True) -> str:
    """``hh:mm:ss.mmm`` (``,`` as the marker for SRT) of a non-negative time in seconds."""
    if seconds < 0:
        raise ValueError(f"timestamps must be >= 0 seconds, got {seconds}")
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_include_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


class ResultWriter:
    """Base class: subclasses set ``extension`` and implement :meth:`write_result`."""

    extension: str = ""
    transcripts_only: bool = False

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def __call__(
        self, result: Result, audio_path: str | os.PathLike, *, word_timestamps: bool = False
    ) -> Path:
        """Write ``result`` next to the others in ``output_dir``; returns the file written."""
        if self.transcripts_only and not isinstance(result, Transcription):
            raise ConfigError(
                f"format {self.extension!r} needs a transcription or translation, got a "
                f"{type(result).__name__}; use txt or json for this task"
            )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{Path(audio_path).stem}.{self.extension}"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            self.write_result(result, f, word_timestamps=word_timestamps)
        return path

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        """Write ``result`` to an open text file."""
        raise NotImplementedError


class WriteTXT(ResultWriter):
    """Plain text: one line per segment for transcripts, the text (or label) for other results."""

    extension = "txt"

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        if isinstance(result, Transcription):
            for seg in result.segments:
                print(seg.text.strip(), file=file)
        else:
            print(result_text(result), file=file)


class WriteJSON(ResultWriter):
    """The result's fields as JSON; word lists only with ``word_timestamps``."""

    extension = "json"

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        data = dataclasses.asdict(result)
        data["type"] = type(result).__name__
        if isinstance(result, Transcription) and not word_timestamps:
            for seg in data["segments"]:
                seg.pop("words", None)
        json.dump(data, file, ensure_ascii=False, indent=2)
        file.write("\n")


class SubtitlesWriter(ResultWriter):
    """Shared cue logic of SRT and VTT."""

    transcripts_only = True
    decimal_marker = "."

    def _stamp(self, t: float) -> str:
        return format_timestamp(t, self.decimal_marker)

    def cues(self, result: Transcription, word_timestamps: bool) -> list[tuple[float, float, str]]:
        """``(start, end, text)`` of every cue, in order; empty segments are skipped."""
        out = []
        for seg in result.segments:
            if word_timestamps and seg.words:
                out += self.word_cues(seg, result)
            elif seg.text.strip():
                out.append((seg.start, seg.end, seg.text.strip()))
        return out

    def word_cues(self, seg: Segment, result: Transcription) -> list[tuple[float, float, str]]:
        """Cues for one segment with word times (one per word by default)."""
        return [(w.start, w.end, w.word) for w in seg.words or []]


class WriteSRT(SubtitlesWriter):
    """SubRip subtitles; with word timestamps, one cue per word."""

    extension = "srt"
    decimal_marker = ","

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        for i, (start, end, text) in enumerate(self.cues(result, word_timestamps), start=1):
            print(f"{i}\n{self._stamp(start)} --> {self._stamp(end)}\n{text}\n", file=file)


class WriteVTT(SubtitlesWriter):
    """WebVTT subtitles; with word timestamps, inline cue timestamps before each word."""

    extension = "vtt"

    def word_cues(self, seg: Segment, result: Transcription) -> list[tuple[float, float, str]]:
        words: list[Word] = seg.words or []
        if not words:
            return []
        sep = "" if _no_spaces(result) else " "
        parts = [words[0].word] + [f"<{self._stamp(w.start)}>{w.word}" for w in words[1:]]
        return [(seg.start, seg.end, sep.join(parts))]

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        print("WEBVTT\n", file=file)
        for start, end, text in self.cues(result, word_timestamps):
            print(f"{self._stamp(start)} --> {self._stamp(end)}\n{text}\n", file=file)


class WriteTSV(ResultWriter):
    """Tab-separated ``start<TAB>end<TAB>text`` in integer milliseconds, one row per segment.

    With word timestamps, one row per word. Tabs and newlines inside text become spaces.
    """

    extension = "tsv"
    transcripts_only = True

    def write_result(self, result: Result, file: TextIO, *, word_timestamps: bool = False) -> None:
        print("start\tend\ttext", file=file)
        rows = (
            [(w.start, w.end, w.word) for w in result.words]
            if word_timestamps and result.words
            else [(s.start, s.end, s.text) for s in result.segments]
        )
        for start, end, text in rows:
            clean = " ".join(text.split())
            print(f"{round(start * 1000)}\t{round(end * 1000)}\t{clean}", file=file)


WRITERS: dict[str, type[ResultWriter]] = {
    "txt": WriteTXT,
    "json": WriteJSON,
    "srt": WriteSRT,
    "vtt": WriteVTT,
    "tsv": WriteTSV,
}
#: Formats accepted by :func:`get_writer` (``all`` writes every format that fits the result).
FORMATS: tuple[str, ...] = (*WRITERS, "all")


def get_writer(output_format: str, output_dir: str | os.PathLike):
    """A writer for one format, or for ``"all"`` a writer that writes every format that fits.

    The ``all`` writer returns the list of paths written; for results that are not transcripts it
    writes txt and json only.
    """
    if output_format == "all":
        writers = [cls(output_dir) for cls in WRITERS.values()]

        def write_all(result: Result, audio_path: str | os.PathLike, *, word_timestamps: bool = False):
            return [
                w(result, audio_path, word_timestamps=word_timestamps)
                for w in writers
                if not w.transcripts_only or isinstance(result, Transcription)
            ]

        return write_all
    if output_format not in WRITERS:
        raise ConfigError(f"unknown output format {output_format!r}; valid formats: {list(FORMATS)}")
    return WRITERS[output_format](output_dir)


def _no_spaces(result: Transcription) -> bool:
    return (result.output_language or result.language) in NO_SPACE_LANGUAGES


def result_text(result: Result) -> str:
    """One line of text for any result: the transcript, caption or answer, the label (timed events
    with their spans), the language."""
    if isinstance(result, Classification):
        if result.events:
            return ", ".join(f"{e.label} {e.start:.2f}-{e.end:.2f} s" for e in result.events)
        return result.label
    if isinstance(result, LanguageDetection):
        return result.language
    if isinstance(result, NoteAnalysis):
        fields = [
            f"pitch {result.pitch} ({result.note_name})" if result.pitch is not None else None,
            f"velocity {result.velocity}" if result.velocity is not None else None,
            f"instrument {result.instrument}" if result.instrument else None,
            f"qualities {', '.join(result.qualities)}" if result.qualities else None,
        ]
        return "; ".join(f for f in fields if f)
    return result.text.strip()
