"""Generation options and results (typed, frozen), with the named presets of the official releases."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from auricle.errors import ConfigError
from auricle.generate.timestamps import TimestampRules
from auricle.generate.utf8 import Utf8Rules

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate. The defaults are greedy decoding of up to 256 new tokens.

    ``num_beams > 1`` switches greedy decoding to beam search (generate/beam.py): hypotheses are
    ranked by their summed log-probability divided by ``length ** length_penalty`` (length in
    new tokens, the stop token included), with transformers' stopping rule (``early_stopping=False``).

    ``stop_token_ids=None`` means the model's own (its config's ``eos_token_ids``); an empty tuple
    means no stop token at all.
    """

    max_new_tokens: int = 256
    min_new_tokens: int = 0  # no stop (token or string) before this many new tokens
    do_sample: bool = False  # False: greedy (argmax); True: draw from the filtered distribution
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    num_beams: int = 1  # > 1: beam search (not with do_sample, stop_strings or streaming)
    length_penalty: float = 1.0  # beam search: score = sum log p / length ** length_penalty
    repetition_penalty: float = 1.0  # 1.0 = off; over prompt + generated ids (padding excluded)
    seed: int | None = None  # seeds the sampling generator; None draws from torch's global RNG
    stop_token_ids: tuple[int, ...] | None = None
    stop_strings: tuple[str, ...] = ()  # needs a decode_fn; the text is cut before the stop string
    vocab_limit: int | None = None  # ids >= this are never produced (v1: 155165 decodable of 155947)
    drop_finished: bool = True  # drop finished rows from the batch (KVCache.select); same tokens
    sync_every: int | None = None  # steps between host checks; None = 1 on CPU or when streaming, else 8
    compile_decode: bool = False  # torch.compile the decode step (once per model; pays off on long runs)
    timestamp_rules: TimestampRules | None = None  # keep timed answers well formed (generate/timestamps.py)
    timestamp_window: int = 0  # greedy: a chosen time -> expected time within ± this many cs (0: off)
    utf8_rules: Utf8Rules | None = None  # no half-written characters (generate/utf8.py)

    def __post_init__(self) -> None:
        if self.stop_token_ids is not None:
            object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))
        if isinstance(self.stop_strings, str):
            object.__setattr__(self, "stop_strings", (self.stop_strings,))
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
        _check(self.max_new_tokens >= 1, "max_new_tokens", self.max_new_tokens, "an integer >= 1")
        _check(
            0 <= self.min_new_tokens <= self.max_new_tokens,
            "min_new_tokens",
            self.min_new_tokens,
            f"an integer in [0, max_new_tokens={self.max_new_tokens}]",
        )
        _check(self.temperature > 0, "temperature", self.temperature, "a number > 0 (use do_sample=False)")
        _check(self.top_k >= 0, "top_k", self.top_k, "an integer >= 0 (0 disables it)")
        _check(0 < self.top_p <= 1, "top_p", self.top_p, "a number in (0, 1] (1 disables it)")
        _check(self.num_beams >= 1, "num_beams", self.num_beams, "an integer >= 1 (1 = no beam search)")
        _check(
            self.num_beams == 1 or not self.do_sample,
            "num_beams",
            self.num_beams,
            "1 when do_sample=True (beam search is deterministic; sample with num_beams=1)",
        )
        _check(
            self.num_beams == 1 or not self.stop_strings,
            "num_beams",
            self.num_beams,
            "1 when stop_strings are set (beam search stops on stop token ids only)",
        )
        _check(
            self.timestamp_window >= 0, "timestamp_window", self.timestamp_window, "an integer >= 0 (0 = off)"
        )
        _check(self.repetition_penalty > 0, "repetition_penalty", self.repetition_penalty, "a number > 0")
        _check(
            self.vocab_limit is None or self.vocab_limit >= 1,
            "vocab_limit",
            self.vocab_limit,
            "None or an integer >= 1",
        )
        _check(self.sync_every is None or self.sync_every >= 1, "sync_every", self.sync_every, "None or >= 1")
        _check(all(self.stop_strings), "stop_strings", self.stop_strings, "non-empty strings")

    def replace(self, **changes: Any) -> GenerationConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _check(ok: bool, name: str, value: object, valid: str) -> None:
    if not ok:
        raise ConfigError(f"GenerationConfig.{name} = {value!r} is not valid; it must be {valid}")


@dataclass(frozen=True)
class GenerationResult:
    """One generated sequence.

    ``token_ids`` are the new ids, ending with the stop token when one stopped it; ``text`` (when a
    ``decode_fn`` was given) is their decoding without that stop token, cut before a stop string.
    ``stop`` is the stop token id or stop string that ended it (None for ``"length"``).
    """

    token_ids: list[int]
    finish_reason: FinishReason
    text: str | None = None
    stop: int | str | None = None
    prompt_tokens: int = 0


@dataclass(frozen=True)
class StreamEvent:
    """What one batch row produced since its previous event; ``result`` is set on its last event."""

    row: int
    delta: str
    token_ids: list[int]
    result: GenerationResult | None = None


_V1_EOS = 151643  # <|endoftext|>
_V1_DECODABLE = 155165  # v1 logits have 155947 columns but only these ids decode (spec §9.15)

#: Named generation settings of the official v1 releases (spec §7.1). v2 checkpoints ship theirs in
#: ``generation_config.json``; read it from the checkpoint rather than from here.
PRESETS: dict[str, GenerationConfig] = {
    "greedy": GenerationConfig(),
    "qwen-audio": GenerationConfig(
        max_new_tokens=512, do_sample=True, top_p=0.8, stop_token_ids=(_V1_EOS,), vocab_limit=_V1_DECODABLE
    ),
    "qwen-audio-chat": GenerationConfig(
        max_new_tokens=512,
        do_sample=True,
        top_p=0.5,
        stop_token_ids=(_V1_EOS, 151645, 151644),  # <|endoftext|>, <|im_end|>, <|im_start|>
        vocab_limit=_V1_DECODABLE,
    ),
    "qwen-audio-eval": GenerationConfig(
        max_new_tokens=256, min_new_tokens=1, stop_token_ids=(_V1_EOS,), vocab_limit=_V1_DECODABLE
    ),
}


def generation_preset(name: str, **overrides: Any) -> GenerationConfig:
    """The named generation preset with fields overridden; unknown names raise :class:`ConfigError`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown generation preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)
