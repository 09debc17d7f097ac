"""Speech translation: the speech of an audio as text in another language, any length, batched."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auricle.errors import ConfigError
from auricle.tasks.engine import Engine
from auricle.tasks.fallback import COMPRESSION_RATIO_THRESHOLD, DEFAULT_TEMPERATURES
from auricle.tasks.prompts import check_language
from auricle.tasks.results import Transcription
from auricle.tasks.transcribe import speech_to_text


def translate(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    to: str = "en",
    language: str | None = None,
    itn: bool = True,
    task_format: str = "auto",
    max_new_tokens: int | None = None,
    temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
) -> list[Transcription]:
    """Translate the speech of every audio into ``to``; see :meth:`auricle.api.AudioModel.translate`."""
    if not to:
        raise ConfigError("translate needs a target language, e.g. to='en'")
    check_language(to, "target language")
    check_language(language, "language")
    return speech_to_text(
        engine,
        audios,
        task="s2tt",
        language=language,
        target=to,
        word_timestamps=False,
        itn=itn,
        task_format=task_format,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        compression_ratio_threshold=compression_ratio_threshold,
    )
