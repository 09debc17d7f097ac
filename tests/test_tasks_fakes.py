"""Shared test doubles for the task, chat and long-audio tests (this module holds no tests).

:class:`ScriptedEngine` stands in for the model only: it receives the real requests (prompts built
by auricle.prompt, real audio windows) and answers with scripted text, turned into token ids with a
real tokenizer. Everything downstream (parsers, merging, scoring maths, tools, audio edits) is the
production code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from auricle.generate import GenerationConfig, GenerationResult, StreamEvent
from auricle.prompt.encode import encode_prompt, prompt_style_of
from auricle.prompt.segments import TAGS_IN_TEXT, Rendered, Special, Text, segments_from_tagged_text
from auricle.tasks.engine import Request
from auricle.tokenizer import train_bpe_tokenizer
from auricle.tokenizer.specials import ALL_V1_SPECIALS, LANGUAGES, V2_SPECIALS, language_tag

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel",
    "hello world this is a test of the audio model with some words",
    "a man is speaking in a quiet room while birds sing outside",
    "cut the second word and keep the rest",
] * 10


@functools.lru_cache(maxsize=2)
def tokenizer(style: str = "qwen-audio"):
    """A small byte-level BPE with the v1 (or v2) special tokens: real, fast, and offline."""
    specials = ALL_V1_SPECIALS if style == "qwen-audio" else V2_SPECIALS
    return train_bpe_tokenizer(CORPUS, 320, specials=specials)


def tagged_ids(tok, text: str) -> list[int]:
    """Ids of scripted model output written with ``<|…|>`` tags (trusted test text)."""
    allowed = frozenset(t for t in TAGS_IN_TEXT if tok.has_special(t))
    return encode_prompt(
        segments_from_tagged_text(text, allowed=allowed), tok, style=prompt_style_of(tok)
    ).ids


def prompt_text_of(tok, request: Request) -> str:
    """The request's prompt as one string (audio as ``<audio>`` markers), for assertions."""
    segments = request.prompt.segments if isinstance(request.prompt, Rendered) else request.prompt
    parts = []
    for seg in segments:
        if isinstance(seg, Text):
            parts.append(seg.text)
        elif isinstance(seg, Special):
            parts.append(seg.token)
        else:
            parts.append(f"<audio#{seg.index}>")
    return "".join(parts)


class ScriptedEngine:
    """A model double: ``reply(request) -> str`` (or a list of replies used in turn)."""

    def __init__(
        self,
        reply: Callable[[Request], str] | list[str] | str,
        *,
        style: str = "qwen-audio",
        family: str | None = None,
        scorer: Callable[[Request, list[int]], float] | None = None,
        language: str = "en",
        batch_size: int = 8,
    ) -> None:
        self.tokenizer = tokenizer(style)
        self.style = style
        self.family = family or style  # the two Qwen families are named as their prompt styles
        self.audio_stack = 1
        self._reply = reply
        self.scorer = scorer or (lambda request, cont: -0.5 * len(cont))
        self.language = language
        self.batch_size = batch_size
        self.requests: list[Request] = []
        self.configs: list[GenerationConfig] = []
        self.batch_sizes_seen: list[int] = []

    def reply_text(self, request: Request) -> str:
        if isinstance(self._reply, str):
            return self._reply
        if isinstance(self._reply, list):
            if not self._reply:
                raise AssertionError("the scripted engine ran out of replies")
            return self._reply.pop(0)
        return self._reply(request)

    def _result(self, request: Request, config: GenerationConfig) -> GenerationResult:
        ids = tagged_ids(self.tokenizer, self.reply_text(request))
        if len(ids) >= config.max_new_tokens:
            ids = ids[: config.max_new_tokens]
            return GenerationResult(ids, "length", text=self.tokenizer.decode(ids))
        stop = config.stop_token_ids[0] if config.stop_token_ids else self.tokenizer.eos_id
        return GenerationResult(ids + [stop], "stop", text=self.tokenizer.decode(ids), stop=stop)

    def generate(self, requests, config):
        self.requests += list(requests)
        self.configs.append(config)
        self.batch_sizes_seen.append(self.batch_size)
        return [self._result(r, config) for r in requests]

    def stream(self, request, config):
        result = self.generate([request], config)[0]
        text = result.text
        cuts = list(range(0, len(text), 3)) + [len(text)]
        for a, b in zip(cuts, cuts[1:]):
            yield StreamEvent(row=0, delta=text[a:b], token_ids=[])
        yield StreamEvent(row=0, delta="", token_ids=result.token_ids, result=result)

    def score(self, request, continuations):
        self.requests.append(request)
        return [float(self.scorer(request, list(c))) for c in continuations]

    def token_logprobs(self, request, continuation):
        """Per-token log-probabilities as differences of the scorer's prefix scores."""
        cont = list(continuation)
        prefix = [float(self.scorer(request, cont[:k])) for k in range(len(cont) + 1)]
        self.requests.append(request)
        return [b - a for a, b in zip(prefix, prefix[1:])]

    def next_token_logprobs(self, requests):
        self.requests += list(requests)
        logits = torch.zeros(len(requests), len(self.tokenizer))
        for i, code in enumerate(LANGUAGES):
            logits[:, self.tokenizer.special_id(language_tag(code))] = 1.0 + 0.1 * i
        logits[:, self.tokenizer.special_id(language_tag(self.language))] = 5.0
        return torch.log_softmax(logits, dim=-1)


def noise(seconds: float, seed: int = 0, level: float = 0.05) -> np.ndarray:
    """Quiet white noise at 16 kHz."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * 16000)) * level).astype(np.float32)
