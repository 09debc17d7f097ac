"""Built-in audio-editing tools for chat (speech editing with tools, as the Qwen-Audio paper shows).

The edits are plain functions on 16 kHz float32 arrays; times become sample indices by
``round(seconds * 16000)`` clamped to the audio, so every edit is sample-exact:

* ``cut``: remove ``[start, end)``; ``keep``: keep only ``[start, end)``; ``mute``: zero it;
* ``concatenate``: audios one after another;
* ``change_speed``: play ``factor`` times faster, tape style (pitch moves too): the samples are
  resampled with soxr from ``16000 * factor`` Hz to 16000 Hz, so the result has about
  ``len / factor`` samples;
* ``change_gain``: multiply by ``10 ** (gain_db / 20)`` and clip to [-1, 1].

:class:`AudioWorkspace` numbers the audios of a conversation 1, 2, 3… (the order they were
given); every edit adds its result as the next number. :func:`audio_editing_tools` exposes the
edits as :class:`auricle.tools.Tool` s, including edits by word range, which read word
timestamps from the model's own transcription (SRWT) of the audio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import soxr

from auricle.errors import AudioError
from auricle.tasks.results import Word
from auricle.tools.calls import ToolResult
from auricle.tools.schema import Tool

SAMPLE_RATE = 16000
ACTIONS = ("cut", "keep", "mute")
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MIN_GAIN_DB, MAX_GAIN_DB = -60.0, 40.0


def to_sample(seconds: float, n: int) -> int:
    """Sample index of a time in seconds, clamped to ``[0, n]``."""
    return min(max(round(float(seconds) * SAMPLE_RATE), 0), n)


def _span(audio: np.ndarray, start: float, end: float) -> tuple[int, int]:
    if end < start:
        raise AudioError(f"the span ends ({end} s) before it starts ({start} s)")
    return to_sample(start, len(audio)), to_sample(end, len(audio))


def cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    """``audio`` without ``[start, end)``."""
    a, b = _span(audio, start, end)
    return np.concatenate([audio[:a], audio[b:]]).astype(np.float32)


def keep(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    """Only ``[start, end)`` of ``audio``."""
    a, b = _span(audio, start, end)
    if a == b:
        raise AudioError(
            f"keeping {start}-{end} s would leave no audio (the audio is {len(audio) / SAMPLE_RATE:.2f} s)"
        )
    return audio[a:b].astype(np.float32, copy=True)


def mute(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    """``audio`` with ``[start, end)`` set to silence."""
    a, b = _span(audio, start, end)
    out = audio.astype(np.float32, copy=True)
    out[a:b] = 0.0
    return out


def concatenate(audios: Sequence[np.ndarray]) -> np.ndarray:
    """The audios one after another."""
    if not audios:
        raise AudioError("concatenate needs at least one audio")
    return np.concatenate([np.asarray(a, dtype=np.float32) for a in audios])


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """``audio`` played ``factor`` times faster (and higher), by soxr resampling."""
    if not MIN_SPEED <= factor <= MAX_SPEED:
        raise AudioError(f"speed factor must be in [{MIN_SPEED}, {MAX_SPEED}], got {factor}")
    if factor == 1:
        return audio.astype(np.float32, copy=True)
    return soxr.resample(audio.astype(np.float32), SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


def change_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """``audio`` louder (positive dB) or quieter (negative), clipped to [-1, 1]."""
    if not MIN_GAIN_DB <= gain_db <= MAX_GAIN_DB:
        raise AudioError(f"gain must be in [{MIN_GAIN_DB}, {MAX_GAIN_DB}] dB, got {gain_db}")
    scale = np.float32(10.0 ** (gain_db / 20.0))
    return np.clip(audio.astype(np.float32) * scale, -1.0, 1.0)


EDITS: dict[str, Callable[[np.ndarray, float, float], np.ndarray]] = {"cut": cut, "keep": keep, "mute": mute}


class AudioWorkspace:
    """The audios of a conversation, numbered from 1, plus their word timestamps (computed once).

    ``words_fn(audio) -> list[Word]`` supplies word timestamps, normally
    ``lambda a: model.transcribe(a, word_timestamps=True).words``.
    """

    def __init__(self, words_fn: Callable[[np.ndarray], list[Word]] | None = None) -> None:
        self.audios: list[np.ndarray] = []
        self.words_fn = words_fn
        self._words: dict[int, list[Word]] = {}

    def add(self, audio: np.ndarray) -> int:
        """Add an audio; returns its number (1-based)."""
        self.audios.append(np.asarray(audio, dtype=np.float32))
        return len(self.audios)

    def get(self, number: int) -> np.ndarray:
        """Audio ``number`` (1-based)."""
        if isinstance(number, bool) or int(number) != number or not 1 <= number <= len(self.audios):
            raise AudioError(f"there is no audio {number}; audios are numbered 1 to {len(self.audios)}")
        return self.audios[int(number) - 1]

    def words(self, number: int) -> list[Word]:
        """Word timestamps of audio ``number``."""
        audio = self.get(number)
        if number not in self._words:
            if self.words_fn is None:
                raise AudioError("word timestamps are not available (no transcriber was given)")
            self._words[number] = list(self.words_fn(audio))
        return self._words[number]

    def clear(self) -> None:
        """Forget every audio."""
        self.audios.clear()
        self._words.clear()

    # ------------------------------------------------------------------------------ tool handlers
    def _result(self, audio: np.ndarray, description: str) -> ToolResult:
        number = self.add(audio)
        seconds = round(len(audio) / SAMPLE_RATE, 3)
        content = {"audio": number, "duration": seconds, "description": description}
        return ToolResult(content=content, audio=audio, description=f"audio {number}: {description}")

    def tool_word_timestamps(self, audio: int) -> ToolResult:
        """Handler of ``word_timestamps``."""
        audio = int(audio)
        words = self.words(audio)
        listing = [
            {"index": i, "word": w.word, "start": w.start, "end": w.end} for i, w in enumerate(words, 1)
        ]
        return ToolResult(
            content={"audio": audio, "words": listing}, description=f"{len(words)} words of audio {audio}"
        )

    def tool_edit_span(self, audio: int, action: str, start: float, end: float) -> ToolResult:
        """Handler of ``edit_span``."""
        audio = int(audio)
        out = EDITS[action](self.get(audio), start, end)
        return self._result(out, f"{action} {start:.2f}-{end:.2f} s of audio {audio}")

    def tool_edit_words(
        self, audio: int, action: str, first_word: int, last_word: int | None = None
    ) -> ToolResult:
        """Handler of ``edit_words``: the span from the start of ``first_word`` to the end of ``last_word``."""
        audio, first_word = int(audio), int(first_word)
        last_word = first_word if last_word is None else int(last_word)
        words = self.words(audio)
        if not 1 <= first_word <= last_word <= len(words):
            raise AudioError(
                f"word range {first_word}-{last_word} is not valid; audio {audio} has words 1 to {len(words)}"
            )
        start, end = words[first_word - 1].start, words[last_word - 1].end
        text = " ".join(w.word for w in words[first_word - 1 : last_word])
        out = EDITS[action](self.get(audio), start, end)
        return self._result(
            out,
            f"{action} words {first_word}-{last_word} ({text!r}, {start:.2f}-{end:.2f} s) of audio {audio}",
        )

    def tool_concatenate(self, audios: list[int]) -> ToolResult:
        """Handler of ``concatenate``."""
        audios = [int(n) for n in audios]
        out = concatenate([self.get(n) for n in audios])
        return self._result(out, f"audios {', '.join(map(str, audios))} joined")

    def tool_change_speed(self, audio: int, factor: float) -> ToolResult:
        """Handler of ``change_speed``."""
        audio = int(audio)
        return self._result(change_speed(self.get(audio), factor), f"audio {audio} at {factor:g}x speed")

    def tool_change_gain(self, audio: int, gain_db: float) -> ToolResult:
        """Handler of ``change_gain``."""
        audio = int(audio)
        return self._result(change_gain(self.get(audio), gain_db), f"audio {audio} with {gain_db:+g} dB gain")


_AUDIO = {
    "type": "integer",
    "minimum": 1,
    "description": "number of the audio: 1 = first audio of the conversation, edits get the next numbers",
}
_ACTION = {
    "type": "string",
    "enum": list(ACTIONS),
    "description": "cut = remove, keep = keep only this, mute = silence",
}


def audio_editing_tools(workspace: AudioWorkspace) -> list[Tool]:
    """The built-in editing tools, acting on ``workspace``."""

    def obj(required: list[str], **props) -> dict:
        return {"type": "object", "properties": props, "required": required}

    return [
        Tool(
            "word_timestamps",
            "List the words of an audio with their start and end times in seconds and their index.",
            obj(["audio"], audio=_AUDIO),
            workspace.tool_word_timestamps,
        ),
        Tool(
            "edit_span",
            "Cut, keep or mute a time span of an audio. Returns the number of the new audio.",
            obj(
                ["audio", "action", "start", "end"],
                audio=_AUDIO,
                action=_ACTION,
                start={"type": "number", "minimum": 0, "description": "start time in seconds"},
                end={"type": "number", "minimum": 0, "description": "end time in seconds"},
            ),
            workspace.tool_edit_span,
        ),
        Tool(
            "edit_words",
            "Cut, keep or mute a range of words of an audio (word indexes from word_timestamps, 1-based, "
            "inclusive). Returns the number of the new audio.",
            obj(
                ["audio", "action", "first_word"],
                audio=_AUDIO,
                action=_ACTION,
                first_word={"type": "integer", "minimum": 1},
                last_word={"type": "integer", "minimum": 1, "description": "defaults to first_word"},
            ),
            workspace.tool_edit_words,
        ),
        Tool(
            "concatenate",
            "Join audios one after another. Returns the number of the new audio.",
            obj(["audios"], audios={"type": "array", "items": _AUDIO, "minItems": 1}),
            workspace.tool_concatenate,
        ),
        Tool(
            "change_speed",
            "Play an audio faster (factor > 1) or slower (factor < 1); the pitch changes with it.",
            obj(
                ["audio", "factor"],
                audio=_AUDIO,
                factor={"type": "number", "minimum": MIN_SPEED, "maximum": MAX_SPEED},
            ),
            workspace.tool_change_speed,
        ),
        Tool(
            "change_gain",
            "Make an audio louder (positive dB) or quieter (negative dB).",
            obj(
                ["audio", "gain_db"],
                audio=_AUDIO,
                gain_db={"type": "number", "minimum": MIN_GAIN_DB, "maximum": MAX_GAIN_DB},
            ),
            workspace.tool_change_gain,
        ),
    ]
