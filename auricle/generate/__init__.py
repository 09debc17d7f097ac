"""Generation: batched prefill + KV-cached decode, greedy or sampled, stop tokens/strings, streaming."""

from auricle.generate.config import (
    PRESETS,
    GenerationConfig,
    GenerationResult,
    StreamEvent,
    generation_preset,
)
from auricle.generate.engine import generate, stream, stream_batch
from auricle.generate.timestamps import TimestampRules

__all__ = [
    "PRESETS",
    "GenerationConfig",
    "GenerationResult",
    "StreamEvent",
    "TimestampRules",
    "generate",
    "generation_preset",
    "stream",
    "stream_batch",
]
