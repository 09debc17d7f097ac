"""Typed prompt segments: a prompt is a list of text, special tokens and audio slots.

Keeping the three apart is what makes prompts injection-safe: text is always encoded as text,
special tokens only come from :class:`Special` segments written by auricle's renderers, and audio
only from :class:`Audio` segments that point into the list of audios of the request.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from auricle.errors import PromptError
from auricle.tokenizer.specials import (
    AUDIO_BOS,
    AUDIO_END,
    AUDIO_EOS,
    AUDIO_SPECIALS,
    AUDIO_START,
    AUDIO_STRUCTURE_TOKENS,
    AUDIO_TOKEN,
)

#: ``"qwen-audio"``: v1 audio spans (``<audio>`` + pads + ``</audio>``) and task tags;
#: ``"qwen2-audio"``: v2 spans (``<|audio_bos|>`` + ``<|AUDIO|>`` x N + ``<|audio_eos|>``).
PromptStyle = Literal["qwen-audio", "qwen2-audio"]
PROMPT_STYLES: tuple[str, ...] = ("qwen-audio", "qwen2-audio")


@dataclass(frozen=True)
class Text:
    """Plain text. Encoded on its own, with special tokens disabled (``"<|im_end|>"`` stays text)."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise PromptError(f"Text segment needs a str, got {type(self.text).__name__}")


@dataclass(frozen=True)
class Special:
    """One special token by its string, e.g. ``Special("<|en|>")``; must exist in the tokenizer."""

    token: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise PromptError(f"Special segment needs a token string, got {self.token!r}")
        if self.token in AUDIO_STRUCTURE_TOKENS:
            raise PromptError(f"{self.token!r} delimits audio; use an Audio(index) segment instead")


@dataclass(frozen=True)
class Audio:
    """The slot of audio number ``index`` (0-based) of the request; filled with its encoder frames."""

    index: int

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise PromptError(f"Audio index must be an int >= 0, got {self.index!r}")


Segment = Text | Special | Audio


@dataclass(frozen=True)
class Rendered:
    """A rendered sequence: segments plus, for each, whether it is a training target (loss on it)."""

    segments: tuple[Segment, ...]
    target: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.segments) != len(self.target):
            raise PromptError(f"{len(self.segments)} segments but {len(self.target)} target flags")

    @classmethod
    def join(cls, *parts: tuple[Iterable[Segment], bool]) -> Rendered:
        """Concatenate ``(segments, is_target)`` parts."""
        segments: list[Segment] = []
        target: list[bool] = []
        for part, is_target in parts:
            part = list(part)
            segments += part
            target += [is_target] * len(part)
        return cls(tuple(segments), tuple(target))

    def prompt(self) -> list[Segment]:
        """The segments before the first target segment: what the model is given at inference."""
        first = self.target.index(True) if True in self.target else len(self.segments)
        return list(self.segments[:first])


def merge_text(segments: Iterable[Segment]) -> list[Segment]:
    """Join adjacent Text segments into one and drop empty ones (one BPE pass over the joined text)."""
    out: list[Segment] = []
    for seg in segments:
        if isinstance(seg, Text):
            if not seg.text:
                continue
            if out and isinstance(out[-1], Text):
                out[-1] = Text(out[-1].text + seg.text)
                continue
        out.append(seg)
    return out


def prompt_text(
    segments: Iterable[Segment], style: PromptStyle = "qwen-audio", audio_names: Sequence[str] | None = None
) -> str:
    """The prompt as one readable string, for logs, docs and comparisons with the official strings.

    v1 writes audio ``k`` as ``<audio>NAME</audio>`` (NAME from ``audio_names``, default
    ``audio{k}``); v2 as ``<|audio_bos|><|AUDIO|><|audio_eos|>`` (the unexpanded template form).
    Never feed this string back into a tokenizer that parses special tokens.
    """
    check_style(style)
    parts = []
    for seg in segments:
        if isinstance(seg, Text):
            parts.append(seg.text)
        elif isinstance(seg, Special):
            parts.append(seg.token)
        elif style == "qwen-audio":
            name = audio_names[seg.index] if audio_names is not None else f"audio{seg.index}"
            parts.append(f"{AUDIO_START}{name}{AUDIO_END}")
        else:
            parts.append(f"{AUDIO_BOS}{AUDIO_TOKEN}{AUDIO_EOS}")
    return "".join(parts)


#: Tags that trusted text may carry with :func:`segments_from_tagged_text`: every v1 task tag and
#: timestamp, but no audio, ChatML or document token.
TAGS_IN_TEXT: frozenset[str] = frozenset(AUDIO_SPECIALS) - AUDIO_STRUCTURE_TOKENS


def segments_from_tagged_text(text: str, allowed: Collection[str] = TAGS_IN_TEXT) -> list[Segment]:
    """Split TRUSTED text such as ``"starts at <|2.33|> seconds"`` into Text and Special segments.

    For dataset targets written in the official string form (chat answers with timestamps, SRWT
    ground truth). Only tokens in ``allowed`` become special; everything else stays text. Never
    use it on user input: that is exactly the injection this package exists to prevent.
    """
    bad = set(allowed) & AUDIO_STRUCTURE_TOKENS
    if bad:
        raise PromptError(f"audio tokens {sorted(bad)} can not come from text; use Audio(index) segments")
    if not allowed:
        return [Text(text)] if text else []
    pattern = _tag_pattern(frozenset(allowed))
    out: list[Segment] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(Text(text[pos : m.start()]))
        out.append(Special(m.group()))
        pos = m.end()
    if pos < len(text):
        out.append(Text(text[pos:]))
    return out


@lru_cache(maxsize=8)
def _tag_pattern(tokens: frozenset[str]) -> re.Pattern[str]:
    # longest first, so that no token is cut short by a prefix of another
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def check_style(style: str) -> None:
    """Raise PromptError unless ``style`` is a known prompt style."""
    if style not in PROMPT_STYLES:
        raise PromptError(f"unknown prompt style {style!r}; valid styles: {list(PROMPT_STYLES)}")
