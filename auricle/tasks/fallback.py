"""Temperature fallback for speech to text, as Whisper does it: decode greedily, and where a window's
text repeats itself (its gzip compression ratio is above a threshold: a decoding loop) or runs on
past the tokens its audio can hold (auricle's own test, with per-window limits), decode that window
again by sampling at the next temperature, until the text passes or the temperatures run out.
Sampling is seeded (the attempt number), so a run is reproducible.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

from auricle.errors import ConfigError
from auricle.generate import GenerationConfig, GenerationResult
from auricle.tasks.engine import Engine, Request, output_ids

#: Whisper's defaults: greedy first, then these sampling temperatures.
DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: Whisper's default: text whose UTF-8 compresses more than 2.4× is taken for a loop.
COMPRESSION_RATIO_THRESHOLD = 2.4


def compression_ratio(text: str) -> float:
    """``len(utf8) / len(zlib(utf8))``: about 1 or below for ordinary sentences, high for loops."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def temperatures_of(temperature: float | Sequence[float]) -> tuple[float, ...]:
    """A temperature or a sequence of them as a checked tuple (each ≥ 0; 0 means greedy)."""
    temps = (float(temperature),) if isinstance(temperature, int | float) else tuple(map(float, temperature))
    if not temps or any(t < 0 for t in temps):
        raise ConfigError(
            f"temperature must be a number >= 0 or a non-empty sequence of them, got {temperature!r}"
        )
    return temps


def generate_with_fallback(
    engine: Engine,
    requests: Sequence[Request],
    config: GenerationConfig,
    *,
    temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
    token_limits: Sequence[int] | None = None,
) -> list[GenerationResult]:
    """One result per request; requests whose text fails are decoded again at the next temperature.

    A text fails when it compresses more than ``compression_ratio_threshold`` or, with
    ``token_limits`` (one per request), when it reaches its request's limit without stopping: a
    window that runs on past what its audio can hold. Results are cut at their limit (what a decoder
    stopped there would have produced). If every temperature fails, the attempt that stopped by
    itself, and among those the one with the lowest compression ratio, is kept.
    """
    temps = temperatures_of(temperature)
    if token_limits is not None:
        if len(token_limits) != len(requests) or any(n < 1 for n in token_limits):
            raise ConfigError("token_limits needs one limit >= 1 per request")
        if token_limits:
            config = config.replace(max_new_tokens=min(config.max_new_tokens, max(token_limits)))
    limits = list(token_limits) if token_limits is not None else None

    def run(indices: list[int], attempt: int, temp: float) -> list[GenerationResult]:
        results = engine.generate([requests[i] for i in indices], _at(config, temp, attempt))
        return results if limits is None else [_cut(res, limits[i]) for i, res in zip(indices, results)]

    def score(i: int, result: GenerationResult) -> tuple[bool, float]:
        return _score(engine, result, None if limits is None else limits[i])

    results = run(list(range(len(requests))), 0, temps[0])
    if len(temps) == 1 or (compression_ratio_threshold is None and limits is None):
        return results  # nothing to fall back to, or no test that can fail
    threshold = float("inf") if compression_ratio_threshold is None else compression_ratio_threshold
    scores = [score(i, r) for i, r in enumerate(results)]
    for attempt, temp in enumerate(temps[1:], 1):
        redo = [i for i, (ran_on, ratio) in enumerate(scores) if ran_on or ratio > threshold]
        if not redo:
            break
        for i, res in zip(redo, run(redo, attempt, temp)):
            new = score(i, res)
            if new < scores[i]:
                results[i], scores[i] = res, new
    return results


def _cut(result: GenerationResult, limit: int) -> GenerationResult:
    """``result`` as a decoder stopped after ``limit`` new tokens would have returned it."""
    if len(output_ids(result)) <= limit:
        return result
    return dataclasses.replace(
        result, token_ids=list(result.token_ids[:limit]), finish_reason="length", text=None, stop=None
    )


def _score(engine: Engine, result: GenerationResult, limit: int | None) -> tuple[bool, float]:
    """(ran on to its limit, compression ratio): lower is better."""
    ran_on = limit is not None and result.finish_reason == "length" and len(result.token_ids) >= limit
    return ran_on, _ratio(engine, result)


def _at(config: GenerationConfig, temperature: float, attempt: int) -> GenerationConfig:
    if temperature == 0:
        return config.replace(do_sample=False)
    return config.replace(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, seed=attempt)


def _ratio(engine: Engine, result: GenerationResult) -> float:
    return compression_ratio(engine.tokenizer.decode(output_ids(result), skip_special_tokens=True))
