"""Temperature fallback for speech to text, as Whisper does it: decode greedily, and where a window's
text repeats itself (its gzip compression ratio is above a threshold: a decoding loop), decode that
window again by sampling at the next temperature, until the text passes or the temperatures run
out. Sampling is seeded (the attempt number), so a run is reproducible.
"""

from __future__ import annotations

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
) -> list[GenerationResult]:
    """One result per request; requests whose text fails the threshold are decoded again at the next
    temperature. If every temperature fails, the attempt with the lowest compression ratio is kept."""
    temps = temperatures_of(temperature)
    results = engine.generate(requests, _at(config, temps[0], 0))
    if compression_ratio_threshold is None or len(temps) == 1:
        return results  # nothing to fall back to: no ratios needed
    ratios = [_ratio(engine, r) for r in results]
    for attempt, temp in enumerate(temps[1:], 1):
        redo = [i for i, ratio in enumerate(ratios) if ratio > compression_ratio_threshold]
        if not redo:
            break
        again = engine.generate([requests[i] for i in redo], _at(config, temp, attempt))
        for i, res in zip(redo, again):
            ratio = _ratio(engine, res)
            if ratio < ratios[i]:
                results[i], ratios[i] = res, ratio
    return results


def _at(config: GenerationConfig, temperature: float, attempt: int) -> GenerationConfig:
    if temperature == 0:
        return config.replace(do_sample=False)
    return config.replace(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, seed=attempt)


def _ratio(engine: Engine, result: GenerationResult) -> float:
    return compression_ratio(engine.tokenizer.decode(output_ids(result), skip_special_tokens=True))
