"""Generation: batched prefill + KV-cached decode, greedy or sampled, stop tokens/strings, streaming."""

from auricle.generate.config import (
    PRESETS,
    GenerationConfig,
    GenerationResult,
    StreamEvent,
    generation_preset,
)
from auricle.generate.engine import generate, stream, stream_batch

__all__ = [
    "PRESETS",
    "GenerationConfig",
    "GenerationResult",
    "StreamEvent",
    "generate",
    "generation_preset",
    "stream",
    "stream_batch",
]
