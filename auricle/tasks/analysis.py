"""Shared runner of the one-answer tasks (caption, QA, classification, music): the whole audio in
one prompt, as consecutive 30 s spans up to a cap (see :mod:`auricle.tasks.longform`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auricle.generate import GenerationConfig, GenerationResult
from auricle.generate.timestamps import TimestampRules
from auricle.tasks.engine import Engine, Request, output_ids
from auricle.tasks.longform import DEFAULT_MAX_SECONDS, consecutive_windows
from auricle.tasks.prompts import build_prompt, stop_tokens
from auricle.tasks.srwt import Piece, pieces_from_ids


@dataclass(frozen=True)
class Answered:
    """One generation of an analysis task: its request, result, and the output ids and pieces."""

    request: Request
    result: GenerationResult
    ids: list[int]  # generated ids without the stop token
    pieces: list[Piece]


def build_requests(
    engine: Engine,
    audios: Sequence[np.ndarray],
    task: str,
    *,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    per_audio_options: Sequence[dict] | None = None,
    **options,
) -> list[Request]:
    """One request per audio: the audio's consecutive windows, then the task prompt."""
    requests = []
    for k, audio in enumerate(audios):
        windows = consecutive_windows(audio, max_seconds=max_seconds, what=f"audio {k}")
        opts = dict(options, **(per_audio_options[k] if per_audio_options else {}))
        prompt = build_prompt(task, task_format=task_format, style=engine.style, windows=len(windows), **opts)
        requests.append(Request(prompt, [w.cut(audio) for w in windows]))
    return requests


def run_task(
    engine: Engine,
    requests: Sequence[Request],
    *,
    max_new_tokens: int,
    task_format: str = "auto",
    timestamp_rules: TimestampRules | None = None,
) -> list[Answered]:
    """Greedy generation for every request; the outputs as ids (stop token removed) and pieces."""
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        stop_token_ids=stop_tokens(engine.tokenizer, task_format, engine.style),
        timestamp_rules=timestamp_rules,
    )
    out = []
    for req, res in zip(requests, engine.generate(requests, config)):
        ids = output_ids(res)
        out.append(Answered(req, res, ids, pieces_from_ids(ids, engine.tokenizer)))
    return out
