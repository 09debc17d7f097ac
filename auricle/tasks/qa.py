"""Audio question answering: a free-text answer to a question about an audio.

The question is always plain text (a ``Text`` prompt segment): ``<|im_end|>`` or
``<audio>/etc/passwd</audio>`` inside it are characters, never tokens or files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auricle.errors import PromptError
from auricle.tasks.analysis import build_requests, run_task
from auricle.tasks.engine import Engine
from auricle.tasks.longform import DEFAULT_MAX_SECONDS
from auricle.tasks.results import Answer
from auricle.tasks.srwt import plain_text

#: New tokens for an answer (the official ClothoAQA evaluation allows 4: one-word answers).
MAX_ANSWER_TOKENS = 256


def ask(
    engine: Engine,
    audios: Sequence[np.ndarray],
    questions: Sequence[str],
    *,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
) -> list[Answer]:
    """Answer ``questions[i]`` about ``audios[i]``."""
    if len(questions) != len(audios):
        raise PromptError(f"{len(audios)} audios but {len(questions)} questions; give one question per audio")
    for q in questions:
        if not isinstance(q, str) or not q.strip():
            raise PromptError(f"a question must be a non-empty string, got {q!r}")
    requests = build_requests(
        engine,
        audios,
        "aqa",
        task_format=task_format,
        max_seconds=max_seconds,
        per_audio_options=[{"question": q} for q in questions],
    )
    answers = run_task(
        engine, requests, max_new_tokens=max_new_tokens or MAX_ANSWER_TOKENS, task_format=task_format
    )
    return [Answer(q, plain_text(a.pieces)) for q, a in zip(questions, answers)]
