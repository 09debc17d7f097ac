"""Read model output that carries time tokens: SRWT word timestamps (``<|t|>word<|t|>…``, ``<|sil|>``).

The model output is first turned into :class:`Piece` s (text, timestamp, silence, other special
token), from token ids or from a decoded string. :func:`parse_srwt` then reads words and their
times and repairs what a model gets wrong:

* a missing time (two words with no timestamp between them, a word at the very start or end) is
  interpolated between its known neighbours, in proportion to the characters in between;
* times out of order are resolved by keeping the longest non-decreasing run of timestamps (the
  fewest times are thrown away) and interpolating the rest;
* times outside ``[start_time, end_time]`` are clamped.

Every word whose start or end was not read as written is flagged ``repaired=True``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auricle.tasks.results import Word
from auricle.tokenizer.specials import SIL, parse_timestamp

#: Spoken languages written without spaces between words (SRWT units are characters there).
NO_SPACE_LANGUAGES = frozenset({"zh", "zh_tr", "ja"})

# Speaking rate assumed when a time must be extrapolated and no two known times give one.
_DEFAULT_SECONDS_PER_CHAR = 0.08

_SPECIAL_RE = re.compile(r"<\|[^<>|\s]+\|>")
_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class Piece:
    """One element of model output: ``kind`` is ``"text"``, ``"time"``, ``"sil"`` or ``"special"``."""

    kind: str
    text: str = ""
    time: float | None = None


def pieces_from_ids(ids: Sequence[int], tokenizer) -> list[Piece]:
    """Pieces of generated token ids; runs of ordinary ids are decoded together (multi-byte safe)."""
    pieces: list[Piece] = []
    run: list[int] = []

    def flush() -> None:
        if run:
            pieces.append(Piece("text", tokenizer.decode(run)))
            run.clear()

    for i in ids:
        i = int(i)
        if not tokenizer.is_special(i):
            run.append(i)
            continue
        flush()
        pieces.append(_special_piece(tokenizer.id_to_token(i)))
    flush()
    return pieces


def pieces_from_text(text: str) -> list[Piece]:
    """Pieces of a decoded string in which special tokens appear as ``<|…|>``."""
    pieces: list[Piece] = []
    pos = 0
    for m in _SPECIAL_RE.finditer(text):
        if m.start() > pos:
            pieces.append(Piece("text", text[pos : m.start()]))
        pieces.append(_special_piece(m.group()))
        pos = m.end()
    if pos < len(text):
        pieces.append(Piece("text", text[pos:]))
    return pieces


def _special_piece(token: str) -> Piece:
    t = parse_timestamp(token)
    if t is not None:
        return Piece("time", token, t)
    if token == SIL:
        return Piece("sil", token)
    return Piece("special", token)


def plain_text(pieces: Sequence[Piece]) -> str:
    """The text of the pieces with every special token (times included) left out, stripped."""
    return "".join(p.text for p in pieces if p.kind == "text").strip()


@dataclass(frozen=True)
class Unit:
    """A word or a silence read from SRWT output, with its (repaired) time span."""

    kind: str  # "word" or "sil"
    text: str
    start: float
    end: float
    repaired: bool

    def to_word(self, offset: float = 0.0) -> Word:
        """This unit as a :class:`Word`, shifted by ``offset`` seconds."""
        return Word(self.text, round(self.start + offset, 3), round(self.end + offset, 3), self.repaired)


def parse_srwt(
    pieces: Sequence[Piece],
    *,
    start_time: float | None = 0.0,
    end_time: float | None = None,
    split_words: bool = True,
) -> list[Unit]:
    """Words and silences of SRWT output, each with a start and end time in seconds.

    Args:
        pieces: the output, optionally preceded by the prompt's own trailing timestamp (the official
            SRWT prompt ends with ``<|0.00|>``; pass it as the first piece or rely on ``start_time``).
        start_time: where the first unit starts when no timestamp precedes it (None: unknown).
        end_time: the length of the audio: later times are clamped to it, and the last unit ends
            there when no timestamp follows it (None: unknown).
        split_words: split a text run holding several space-separated words into one unit each.

    Returns:
        Units in order; ``repaired`` marks those with an interpolated, reordered or clamped time.
    """
    # 1. units and the timestamps seen in each gap: gaps[i] precedes units[i], gaps[-1] ends the last
    units: list[tuple[str, str]] = []
    gaps: list[list[float]] = [[]]
    for p in pieces:
        if p.kind == "time":
            gaps[-1].append(float(p.time))
        elif p.kind == "sil":
            units.append(("sil", ""))
            gaps.append([])
        elif p.kind == "text":
            words = _WORD_RE.findall(p.text) if split_words else ([p.text.strip()] if p.text.strip() else [])
            for k, w in enumerate(words):
                if units and units[-1][0] == "word" and not gaps[-1] and k == 0 and not p.text[:1].isspace():
                    units[-1] = ("word", units[-1][1] + w)  # text continues the previous word
                    continue
                units.append(("word", w))
                gaps.append([])
        # other specials (language tags echoed, <|endoftext|>) carry no word or time
    if not units:
        return []

    # 2. boundary points: a gap with >= 2 times gives the previous unit its end (first time) and the next
    #    unit its start (last time); a gap with 0 or 1 time is one shared boundary.
    values: list[float | None] = []
    unit_start: list[int] = []
    unit_end: list[int] = []
    positions: list[float] = []  # character position of each point, for interpolation
    pos = 0.0
    for i, gap in enumerate(gaps):
        if len(gap) >= 2:
            first, last = len(values), len(values) + 1
            values += [gap[0], gap[-1]]
            positions += [pos, pos]
        else:
            first = last = len(values)
            values.append(gap[0] if gap else None)
            positions.append(pos)
        if i > 0:
            unit_end.append(first)
        if i < len(units):
            unit_start.append(last)
            kind, text = units[i]
            pos += max(len(text), 1) if kind == "word" else 1.0

    repaired = [False] * len(values)
    # 3. clamp into the audio
    for j, v in enumerate(values):
        if v is None:
            continue
        c = v
        if start_time is not None and c < start_time:
            c = start_time
        if end_time is not None and c > end_time:
            c = end_time
        if c != v:
            values[j], repaired[j] = c, True
    # 4. keep the longest non-decreasing run of known times
    known = [j for j, v in enumerate(values) if v is not None]
    keep = set(_longest_non_decreasing(known, values))
    for j in known:
        if j not in keep:
            values[j], repaired[j] = None, True
    # 5. interpolate the unknown points
    for j, v in enumerate(values):
        if v is None:
            repaired[j] = True
    _interpolate(values, positions, start_time, end_time)

    out = []
    for (kind, text), s, e in zip(units, unit_start, unit_end):
        start, end = values[s], values[e]
        out.append(Unit(kind, text, float(start), float(max(end, start)), repaired[s] or repaired[e]))
    return out


def _longest_non_decreasing(indices: list[int], values: list[float | None]) -> list[int]:
    """The indices of a longest non-decreasing subsequence of ``values[indices]`` (ties: earliest)."""
    tails: list[float] = []  # smallest tail value of a run of each length
    tail_idx: list[int] = []
    parent: dict[int, int | None] = {}
    for j in indices:
        v = values[j]
        k = bisect.bisect_right(tails, v)
        parent[j] = tail_idx[k - 1] if k else None
        if k == len(tails):
            tails.append(v)
            tail_idx.append(j)
        else:
            tails[k], tail_idx[k] = v, j
    out: list[int] = []
    j = tail_idx[-1] if tail_idx else None
    while j is not None:
        out.append(j)
        j = parent[j]
    return out[::-1]


def _interpolate(
    values: list[float | None], positions: list[float], start_time: float | None, end_time: float | None
) -> None:
    """Fill None values in place: linearly in ``positions`` between known neighbours; past the last
    known time at the speaking rate seen so far (clamped to ``end_time``)."""
    n = len(values)
    if values[0] is None and start_time is not None:
        values[0] = start_time
    known = [j for j, v in enumerate(values) if v is not None]
    if not known:
        values[:] = [0.0] * n
        return
    first, last = known[0], known[-1]
    rate = _DEFAULT_SECONDS_PER_CHAR
    if positions[last] > positions[first] and values[last] > values[first]:
        rate = (values[last] - values[first]) / (positions[last] - positions[first])
    for j in range(n):
        if values[j] is not None:
            continue
        k = bisect.bisect_left(known, j)
        if k == 0:
            values[j] = values[first]
        elif k == len(known):
            guess = values[last] + rate * (positions[j] - positions[last])
            values[j] = min(guess, end_time) if end_time is not None else guess
        else:
            a, b = known[k - 1], known[k]
            span = positions[b] - positions[a]
            frac = (positions[j] - positions[a]) / span if span > 0 else (j - a) / (b - a)
            values[j] = values[a] + (values[b] - values[a]) * frac


def join_words(words: Sequence[str], language: str | None) -> str:
    """Words joined into text: without spaces for Chinese and Japanese, with single spaces otherwise."""
    sep = "" if language in NO_SPACE_LANGUAGES else " "
    return sep.join(w.strip() for w in words if w.strip())
