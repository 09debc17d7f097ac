"""Transcription (and the speech-to-text core that translation shares), any length, batched.

Each audio is cut at pauses into windows of at most 30 s; every window of every audio becomes one
request, all requests go through the engine together (``batch_size`` at a time), and the window
results are merged per audio with their time offsets (see :mod:`auricle.tasks.longform`). When
no language is given it is detected first, on each audio's first window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from auricle.errors import ConfigError
from auricle.generate import GenerationConfig
from auricle.generate.timestamps import TimestampRules
from auricle.tasks.engine import Engine, Request, output_ids
from auricle.tasks.fallback import COMPRESSION_RATIO_THRESHOLD, DEFAULT_TEMPERATURES, generate_with_fallback
from auricle.tasks.language import detect_languages
from auricle.tasks.longform import WindowOutput, join_texts, merge_windows, silence_windows
from auricle.tasks.prompts import LANGUAGE_NAMES, build_prompt, check_language, resolve_format, stop_tokens
from auricle.tasks.results import Transcription
from auricle.tasks.srwt import Piece, parse_srwt, pieces_from_ids, plain_text

#: New tokens per 30 s window: text only, and with a timestamp after every word. auricle-small's
#: 1,000-token BPE spends 1.7 tokens on a Chinese character: the corpus's 99th-percentile text rate,
#: 8.5 tokens a second (16.0 with word timestamps), fills 255 tokens (480) in 30 s, so the caps
#: leave room above it (they were 256 and 512 with the 5,000-token BPE).
MAX_TEXT_TOKENS = 448
MAX_TIMESTAMP_TOKENS = 768
#: A shorter window may use at most BASE + PER_SECOND x its seconds of them (text; with word
#: timestamps), unless max_new_tokens is given: a window that reaches its limit has run on, and is
#: decoded again by the temperature fallback. At least twice what any training reference of the
#: shipped auricle-small needs (64,068 ASR and SRWT utterances; the tightest, a 2.2 s Mandarin SRWT
#: target of 46 tokens, gets 98; the most tokens a second 14.6 of text, 22.5 with word timestamps).
WINDOW_TOKENS_BASE = 32
WINDOW_TOKENS_PER_SECOND = 20.0
WINDOW_TIMESTAMP_TOKENS_PER_SECOND = 30.0
#: Greedy word times: each chosen timestamp becomes the expected time within ±0.10 s of it
#: (GenerationConfig.timestamp_window). auricle-small (seventh version), speech split, English: word
#: shift 55 -> 57 ms and SRWT WER 24.8 -> 23.6%; German shift 47 -> 30 ms, Mandarin 52 -> 39 ms. The
#: ±0.30 s window that suited the fourth version made its English SRWT WER 33.9% (docs/generation.md).
TIMESTAMP_WINDOW = 10
PROMPT_TIME = Piece("time", "<|0.00|>", 0.0)


def transcribe(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    language: str | None = None,
    word_timestamps: bool = False,
    itn: bool = False,
    task_format: str = "auto",
    max_new_tokens: int | None = None,
    temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
    timestamp_window: int = TIMESTAMP_WINDOW,
) -> list[Transcription]:
    """Transcribe every audio; see :meth:`auricle.api.AudioModel.transcribe`."""
    check_language(language, "language")
    if word_timestamps and itn:
        raise ConfigError("itn=True cannot be combined with word_timestamps (the SRWT prompt has no ITN tag)")
    if word_timestamps and resolve_format(task_format, engine.style) != "tags":
        raise ConfigError("word timestamps need a Qwen-Audio (v1) model with task tags; Qwen2-Audio has none")
    return speech_to_text(
        engine,
        audios,
        task="asr",
        language=language,
        target=None,
        word_timestamps=word_timestamps,
        itn=itn,
        task_format=task_format,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        compression_ratio_threshold=compression_ratio_threshold,
        timestamp_window=timestamp_window,
    )


def speech_to_text(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    task: str,
    language: str | None,
    target: str | None,
    word_timestamps: bool,
    itn: bool | None,
    task_format: str,
    max_new_tokens: int | None = None,
    temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
    timestamp_window: int = TIMESTAMP_WINDOW,
) -> list[Transcription]:
    """Windowed ASR (``task="asr"``) or speech translation (``task="s2tt"``) of every audio."""
    fmt = resolve_format(task_format, engine.style)
    windows = [silence_windows(a) for a in audios]
    if language is None and fmt == "tags":
        first = [w[0].cut(a) for a, w in zip(audios, windows)]
        languages = [d.language for d in detect_languages(engine, first, task_format=task_format)]
    else:
        languages = [language] * len(audios)

    requests, owners, limits = [], [], []
    per_second = WINDOW_TIMESTAMP_TOKENS_PER_SECOND if word_timestamps else WINDOW_TOKENS_PER_SECOND
    for k, (audio, wins, lang) in enumerate(zip(audios, windows, languages)):
        options = {"audio_language": lang, "itn": itn}
        if task == "s2tt":
            options["output_language"] = target
        else:
            options["timestamps"] = word_timestamps or None
        prompt = build_prompt(task, task_format=task_format, style=engine.style, **options)
        for w in wins:
            requests.append(Request(prompt, [w.cut(audio)]))
            owners.append(k)
            limits.append(WINDOW_TOKENS_BASE + math.ceil(per_second * w.duration))
    config = GenerationConfig(
        max_new_tokens=max_new_tokens or (MAX_TIMESTAMP_TOKENS if word_timestamps else MAX_TEXT_TOKENS),
        stop_token_ids=stop_tokens(engine.tokenizer, task_format, engine.style),
        timestamp_rules=TimestampRules.for_tokenizer(engine.tokenizer, "words") if word_timestamps else None,
        timestamp_window=timestamp_window if word_timestamps else 0,
    )
    results = generate_with_fallback(
        engine,
        requests,
        config,
        temperature=temperature,
        compression_ratio_threshold=compression_ratio_threshold,
        token_limits=None if max_new_tokens else [min(n, config.max_new_tokens) for n in limits],
    )

    outputs: list[list[WindowOutput]] = [[] for _ in audios]
    window_iter = [iter(w) for w in windows]
    detected: list[str | None] = list(languages)
    for k, res in zip(owners, results):
        win = next(window_iter[k])
        pieces = pieces_from_ids(output_ids(res), engine.tokenizer)
        if word_timestamps:
            pieces = [PROMPT_TIME, *pieces]  # the SRWT prompt ends with <|0.00|>: the first word's start
            units = parse_srwt(pieces, start_time=0.0, end_time=win.duration)
            outputs[k].append(WindowOutput(win, units=units))
        else:
            text = plain_text(pieces)
            if fmt != "tags":
                text, found = _strip_language_marker(text)
                detected[k] = detected[k] or found
            outputs[k].append(WindowOutput(win, text=text))

    out = []
    for k, audio in enumerate(audios):
        lang = detected[k]
        text_language = target if task == "s2tt" else lang
        segments = merge_windows(outputs[k], text_language)
        if word_timestamps:
            text = join_texts([s.text for s in segments], text_language)
        else:
            text = join_texts([o.text for o in outputs[k]], text_language)
        out.append(
            Transcription(
                text=text,
                language=lang,
                segments=segments,
                duration=round(len(audio) / 16000, 3),
                task="translate" if task == "s2tt" else "transcribe",
                output_language=text_language,
            )
        )
    return out


def _strip_language_marker(text: str) -> tuple[str, str | None]:
    """Split a leading ``<|xx|>`` language marker (Qwen2-Audio writes it as plain text) off ``text``."""
    for code in LANGUAGE_NAMES:
        marker = f"<|{code}|>"
        if text.startswith(marker):
            return text[len(marker) :].strip(), code
    return text, None
