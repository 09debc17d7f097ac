"""Music note analysis: MIDI pitch and velocity, instrument family and sonic qualities of a note.

Qwen-Audio answers ``<|pitch|><|midi_pitch_P|><|velocity|><|midi_velocity_V|><|instrument|>NAME
<|sonic|>q1, q2``; the fields are read with the same rules as the official evaluation (text up to
the next token for instrument and qualities). A field that is missing stays ``None``/empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from auricle.tasks.analysis import build_requests, run_task
from auricle.tasks.engine import Engine
from auricle.tasks.longform import DEFAULT_MAX_SECONDS
from auricle.tasks.results import NoteAnalysis
from auricle.tasks.srwt import Piece

#: New tokens for a note analysis (the official evaluation allows 30).
MAX_NOTE_TOKENS = 48

_PITCH = re.compile(r"<\|midi_pitch_(\d+)\|>")
_VELOCITY = re.compile(r"<\|midi_velocity_(\d+)\|>")
_INSTRUMENT = re.compile(r"<\|instrument\|>([^<]*)")
_SONIC = re.compile(r"<\|sonic\|>([^<]*)")


def analyze_music(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
) -> list[NoteAnalysis]:
    """Analyse the note played in every audio."""
    requests = build_requests(
        engine, audios, "note_analysis", task_format=task_format, max_seconds=max_seconds
    )
    return [
        parse_note(a.pieces)
        for a in run_task(
            engine, requests, max_new_tokens=max_new_tokens or MAX_NOTE_TOKENS, task_format=task_format
        )
    ]


def parse_note(pieces: Sequence[Piece]) -> NoteAnalysis:
    """Read the note fields from model output (tokens, or the same written as text)."""
    text = "".join(p.text for p in pieces)
    pitch = _int_field(_PITCH, text)
    velocity = _int_field(_VELOCITY, text)
    m = _INSTRUMENT.search(text)
    instrument = m.group(1).strip() or None if m else None
    m = _SONIC.search(text)
    qualities = [q.strip() for q in m.group(1).split(",") if q.strip()] if m else []
    return NoteAnalysis(pitch, velocity, instrument, qualities, text.strip())


def _int_field(pattern: re.Pattern[str], text: str) -> int | None:
    m = pattern.search(text)
    if not m:
        return None
    value = int(m.group(1))
    return value if 0 <= value <= 127 else None
