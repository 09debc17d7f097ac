"""Hierarchical task tags of the Qwen-Audio base model: prompts for every task and training targets.

A tag prompt is the audio followed by up to six tags, in this order: (1) ``<|startoftranscript|>``
for speech-to-text or ``<|startofanalysis|>`` otherwise; (2) audio language (``<|unknown|>`` for
non-speech); (3) task; (4) output language; (5) ``<|notimestamps|>`` / ``<|timestamps|>``;
(6) output instruction (``<|wo_itn|>``, ``<|caption_clotho|>``, ``<|scene|>`` ...). Where the official
evaluation scripts show a prompt, the one here is identical. Every target ends with ``<|endoftext|>``.
docs/prompts.md lists every prompt and target format.
"""

from __future__ import annotations

from typing import Any

from auricle.data.manifest import TASKS, Example, Word
from auricle.errors import PromptError
from auricle.prompt.segments import Audio, Segment, Special, Text
from auricle.tokenizer import specials as S

#: Every task rendered with tags (``chat`` uses ChatML, see auricle.prompt.chatml).
TAG_TASKS: tuple[str, ...] = tuple(t for t in TASKS if t != "chat")

#: Output-instruction tag of each caption style.
CAPTION_STYLES: dict[str, str] = {
    "clotho": S.CAPTION_CLOTHO,
    "audiocaps": S.CAPTION_AUDIOCAPS,
    "plain": S.CAPTION_PLAIN,
}

# Options each task accepts besides `audio` (anything else given is an error, not silently ignored).
_OPTIONS: dict[str, frozenset[str]] = {
    "asr": frozenset({"audio_language", "output_language", "timestamps", "itn"}),
    "srwt": frozenset({"audio_language", "output_language"}),
    "lid": frozenset(),
    "s2tt": frozenset({"audio_language", "output_language", "itn"}),
    "caption": frozenset({"audio_language", "output_language", "caption_style"}),
    "music_caption": frozenset({"output_language"}),
    "aqa": frozenset({"question", "output_language"}),
    "scene": frozenset({"audio_language", "output_language"}),
    "event": frozenset({"audio_language", "output_language", "timestamps"}),
    "vocal": frozenset({"audio_language", "output_language"}),
    "emotion": frozenset({"audio_language", "output_language"}),
    "note_analysis": frozenset({"output_language"}),
}

# Classification tasks: (analysis-tag chain's default audio language, output-instruction tag).
# Scene/event audio is not speech (<|unknown|>); the official vocal-sound and emotion prompts use <|en|>.
_CLASSIFY: dict[str, tuple[str | None, str]] = {
    "scene": (None, S.SCENE),
    "event": (None, S.EVENT),
    "vocal": ("en", S.VOCAL_CLASSIFICATION),
    "emotion": ("en", S.EMOTION_RECOGNITION),
    "note_analysis": (None, S.NOTE_ANALYSIS),
}

#: Keys of ``Example.note`` (note analysis); ``qualities`` may be a list or a ", "-joined string.
NOTE_KEYS: tuple[str, ...] = ("pitch", "velocity", "instrument", "qualities")


def task_prompt(
    task: str,
    *,
    audio_language: str | None = None,
    output_language: str | None = None,
    timestamps: bool = False,
    itn: bool | None = None,
    caption_style: str | None = None,
    question: str | None = None,
    audio: int | None = 0,
) -> list[Segment]:
    """The tag prompt of ``task`` for one audio: ``[Audio(audio), Special(tag), ...]``.

    ``audio_language`` / ``output_language`` are language codes (``en zh de es ko fr ja it``, or
    ``zh_tr`` for output). ``itn`` defaults to the official choice (ASR ``<|wo_itn|>``, S2TT
    ``<|itn|>``). ``asr`` with ``timestamps=True`` is the SRWT prompt. ``audio=None`` leaves the
    audio segment out (to place it yourself). Options that do not apply to the task raise.
    """
    if task not in _OPTIONS:
        hint = "; chat is rendered by auricle.prompt.chatml" if task == "chat" else ""
        raise PromptError(f"unknown tag task {task!r}; valid tasks: {list(TAG_TASKS)}{hint}")
    given = {
        "audio_language": audio_language,
        "output_language": output_language,
        "timestamps": timestamps or None,
        "itn": itn,
        "caption_style": caption_style,
        "question": question,
    }
    extra = sorted(k for k, v in given.items() if v is not None and k not in _OPTIONS[task])
    if extra:
        raise PromptError(f"task {task!r} does not take {extra}; it takes {sorted(_OPTIONS[task])}")
    tags = _tags(task, audio_language, output_language, timestamps, itn, caption_style, question)
    return ([Audio(audio)] if audio is not None else []) + tags


def _tags(
    task: str,
    audio_language: str | None,
    output_language: str | None,
    timestamps: bool,
    itn: bool | None,
    caption_style: str | None,
    question: str | None,
) -> list[Segment]:
    def lang(code: str | None, default: str | None = None) -> Special:
        code = code or default
        return Special(S.language_tag(code) if code else S.UNKNOWN)

    out = output_language or "en"
    if task == "lid":
        return [Special(S.STARTOFTRANSCRIPT)]
    if task in ("asr", "srwt", "s2tt"):
        if not audio_language:
            raise PromptError(f"task {task!r} needs audio_language; detect it first with task 'lid'")
        head = [Special(S.STARTOFTRANSCRIPT), lang(audio_language)]
        if task == "s2tt":
            if not output_language:
                raise PromptError("task 's2tt' needs output_language (the language to translate into)")
            instruction = S.ITN if itn in (None, True) else S.WO_ITN
            return head + [
                Special(S.TRANSLATE),
                lang(output_language),
                Special(S.NOTIMESTAMPS),
                Special(instruction),
            ]
        head += [Special(S.TRANSCRIBE), lang(output_language, audio_language)]
        if task == "srwt" or timestamps:
            if itn:
                raise PromptError("the word-timestamp (SRWT) prompt has no ITN tag; leave itn unset")
            return head + [Special(S.TIMESTAMPS), Special(S.timestamp_token(0.0))]
        return head + [Special(S.NOTIMESTAMPS), Special(S.ITN if itn else S.WO_ITN)]
    if task == "aqa":
        if not question:
            raise PromptError("task 'aqa' needs a question")
        return [Special(S.STARTOFANALYSIS), lang(out), Special(S.QUESTION), Text(question), Special(S.ANSWER)]
    if task in ("caption", "music_caption"):
        if task == "caption":
            style = caption_style or "clotho"
            if style not in CAPTION_STYLES:
                raise PromptError(f"unknown caption style {style!r}; valid styles: {list(CAPTION_STYLES)}")
            instruction = CAPTION_STYLES[style]
        else:
            instruction = S.MUSIC_DESCRIPTION
        chain = [S.CAPTION, S.language_tag(out), S.NOTIMESTAMPS, instruction]
        return [Special(S.STARTOFANALYSIS), lang(audio_language)] + [Special(t) for t in chain]
    default_language, instruction = _CLASSIFY[task]
    stamps = S.TIMESTAMPS if timestamps else S.NOTIMESTAMPS
    chain = [S.KEYWORD, S.language_tag(out), stamps, instruction]
    return [Special(S.STARTOFANALYSIS), lang(audio_language, default_language)] + [Special(t) for t in chain]


def example_prompt(example: Example, *, itn: bool | None = None) -> list[Segment]:
    """The tag prompt for a manifest example (its first audio); ``itn`` as in :func:`task_prompt`."""
    task = _check_example(example)
    ex = example
    args: dict[str, Any] = {"output_language": ex.target_language}
    # Vocal-sound and emotion prompts keep their fixed language tag (<|en|>, as the official prompts and
    # auricle's classify() write them) whatever language is spoken: a model trained with the speech's
    # language there would be asked, at inference, in a form it never saw.
    if task in ("asr", "srwt", "s2tt", "caption", "scene", "event"):
        args["audio_language"] = ex.language
    if task in ("asr", "s2tt"):
        args["itn"] = itn
    if task == "caption":
        args["caption_style"] = ex.caption_style
    if task == "aqa":
        args["question"] = ex.question
    if task == "event":
        args["timestamps"] = bool(ex.events)
    if task == "lid":
        args = {}
    return task_prompt(task, **args)


def example_target(example: Example, *, itn: bool | None = None) -> list[Segment]:
    """The training target for a manifest example: what follows the prompt, ending in ``<|endoftext|>``."""
    task = _check_example(example)
    ex = example
    if task == "asr":
        if itn and not ex.text_itn:
            raise PromptError(f"example {ex.id!r}: itn=True needs the field 'text_itn'")
        body: list[Segment] = [Text(_clean(ex.text_itn if itn else ex.text, ex, "text"))]
    elif task == "srwt":
        body = word_timestamp_target(ex.words or [], ex.duration)
    elif task == "lid":
        body = [Special(S.language_tag(ex.language or ""))]
    elif task == "note_analysis":
        body = note_target(ex.note or {})
    elif task == "event" and ex.events:
        body = []
        for event in sorted(ex.events, key=lambda e: (e.start, e.end)):
            _check_window(event.end, ex)
            label = _clean(event.label, ex, "events.label")
            body += [
                Special(S.timestamp_token(event.start)),
                Text(label),
                Special(S.timestamp_token(event.end)),
            ]
    elif task in ("scene", "event", "vocal", "emotion"):
        body = [Text(_clean(ex.label, ex, "label"))]
    else:  # s2tt, caption, music_caption, aqa: the text is the answer
        body = [Text(_clean(ex.text, ex, "text"))]
    return body + [Special(S.ENDOFTEXT)]


def word_timestamp_target(words: list[Word], duration: float = 0.0) -> list[Segment]:
    """SRWT target after the prompt's ``<|0.00|>``: ``word<|end|>`` per word, ``<|sil|><|t|>`` per gap.

    Timestamps are shared: each word ends where the next begins unless a gap of at least 10 ms
    (after rounding) separates them, which is written ``<|sil|><|start of next word|>``. Silence
    before the first word and after the last one (up to ``duration``) is written the same way.
    """
    out: list[Segment] = []
    now = 0  # centiseconds of the last timestamp written (the prompt's <|0.00|>)
    for w in words:
        if w.end > S.MAX_TIMESTAMP + 1e-6:
            raise PromptError(f"word {w.word!r} ends at {w.end} s; SRWT targets cover at most 30 s of audio")
        start, end = S.timestamp_centis(w.start), S.timestamp_centis(w.end)
        if start > now:
            out += [Special(S.SIL), Special(S.TIMESTAMP_TOKENS[start])]
            now = start
        text = w.word.strip()
        if not text:
            raise PromptError(f"empty word at {w.start}-{w.end} s in an SRWT target")
        now = max(end, now)
        out += [Text(text), Special(S.TIMESTAMP_TOKENS[now])]
    if duration and S.timestamp_centis(duration) > now:
        out += [Special(S.SIL), Special(S.timestamp_token(duration))]
    return out


def note_target(note: dict[str, Any]) -> list[Segment]:
    """``<|pitch|><|midi_pitch_P|><|velocity|><|midi_velocity_V|><|instrument|>NAME<|sonic|>q1, q2``."""
    unknown = sorted(set(note) - set(NOTE_KEYS))
    missing = [k for k in ("pitch", "velocity", "instrument") if note.get(k) in (None, "")]
    if unknown or missing:
        raise PromptError(
            f"note needs keys pitch, velocity, instrument (qualities optional); "
            f"missing {missing}, unknown {unknown}"
        )
    qualities = note.get("qualities") or []
    if isinstance(qualities, str):
        qualities = [q.strip() for q in qualities.split(",") if q.strip()]
    for name in [note["instrument"], *qualities]:
        if not isinstance(name, str) or "<" in name:
            raise PromptError(f"note instrument/qualities must be strings without '<', got {name!r}")
    if any("," in q for q in qualities):
        raise PromptError(f"note qualities must not contain ',': {qualities}")
    return [
        Special(S.PITCH),
        Special(S.midi_pitch_token(note["pitch"])),
        Special(S.VELOCITY),
        Special(S.midi_velocity_token(note["velocity"])),
        Special(S.INSTRUMENT),
        Text(note["instrument"].strip()),
        Special(S.SONIC),
        *([Text(", ".join(qualities))] if qualities else []),
    ]


def _check_window(t: float, ex: Example) -> None:
    if t > S.MAX_TIMESTAMP + 1e-6:
        raise PromptError(f"example {ex.id!r}: time {t} s is past 30 s; timestamps only reach <|30.00|>")


def _check_example(example: Example) -> str:
    if example.task == "chat":
        raise PromptError(f"example {example.id!r} is a chat; render it with auricle.prompt.chatml")
    try:
        example.validate()
    except ValueError as e:
        raise PromptError(str(e)) from e
    return example.task


def _clean(text: str | None, ex: Example, field: str) -> str:
    text = (text or "").strip()
    if not text:
        raise PromptError(f"example {ex.id!r} (task {ex.task!r}) has an empty {field!r}")
    return text
