"""Audio captioning: one sentence describing a sound, in the style of a captioning dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auricle.tasks.analysis import build_requests, run_task
from auricle.tasks.engine import Engine
from auricle.tasks.language import detect_languages
from auricle.tasks.longform import DEFAULT_MAX_SECONDS
from auricle.tasks.prompts import check_language, resolve_format
from auricle.tasks.results import Caption
from auricle.tasks.srwt import plain_text

#: New tokens for a caption (the official evaluation allows 30; some captions need a few more).
MAX_CAPTION_TOKENS = 64


def caption(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    language: str = "en",
    style: str | None = None,
    audio_language: str | None = None,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
) -> list[Caption]:
    """Caption every audio; ``style`` is ``clotho``, ``audiocaps`` or ``plain`` (Qwen-Audio tags),
    None for the model's own (:func:`default_caption_style`).

    ``audio_language`` is the tag after ``<|startofanalysis|>`` in Qwen-Audio prompts: None writes
    ``<|unknown|>`` (sounds; the official caption prompt), a language code says the audio is speech
    in that language, ``"auto"`` detects the spoken language of each audio first (speech only: the
    detector always names a language). Prompts without tags ignore it.
    """
    check_language(language, "language")
    style = style or default_caption_style(engine)
    per_audio = None
    if audio_language == "auto":
        audio_language = None
        if resolve_format(task_format, engine.style) == "tags":
            detected = detect_languages(engine, audios, task_format=task_format)
            per_audio = [{"audio_language": d.language} for d in detected]
    else:
        check_language(audio_language, "audio_language")
    requests = build_requests(
        engine,
        audios,
        "caption",
        task_format=task_format,
        max_seconds=max_seconds,
        per_audio_options=per_audio,
        output_language=language,
        caption_style=style,
        audio_language=audio_language,
    )
    return [
        Caption(plain_text(a.pieces))
        for a in run_task(
            engine, requests, max_new_tokens=max_new_tokens or MAX_CAPTION_TOKENS, task_format=task_format
        )
    ]


def default_caption_style(engine: Engine) -> str:
    """The caption style a model was trained with: ``plain`` for auricle's own models (the synthetic
    corpus writes only plain captions: asked in the Clotho style, auricle-small answers with an empty
    or off-task caption), ``clotho`` for Qwen-Audio (its evaluation's caption style)."""
    return "plain" if engine.family == "auricle" else "clotho"


def describe_music(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
) -> list[Caption]:
    """Describe each piece of music (genre, mood, key, tempo, instruments): Qwen-Audio's
    ``<|caption|>…<|music_description|>`` task. Models prompted with plain instructions (Qwen2-Audio)
    get a plain caption request instead."""
    if resolve_format(task_format, engine.style) != "tags":
        return caption(
            engine,
            audios,
            style="plain",
            task_format=task_format,
            max_seconds=max_seconds,
            max_new_tokens=max_new_tokens,
        )
    requests = build_requests(
        engine,
        audios,
        "music_caption",
        task_format=task_format,
        max_seconds=max_seconds,
        output_language="en",
    )
    answered = run_task(
        engine, requests, max_new_tokens=max_new_tokens or MAX_CAPTION_TOKENS, task_format=task_format
    )
    return [Caption(plain_text(a.pieces)) for a in answered]
