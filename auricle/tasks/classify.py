"""Audio classification: acoustic scene, sound event, speech emotion, vocal sound.

Two ways to get a label, both scored with the model's own probabilities:

* **open** (no ``candidates``): the model writes its label greedily; the score is the probability
  of that whole answer, ``exp(sum of the log-probabilities of its tokens and of the end token)``,
  computed by one teacher-forced pass over prompt + answer. Sound events are asked for with
  ``<|timestamps|>`` (the model writes ``<|start|>label<|end|>`` per event, as it was trained to,
  kept well formed by :mod:`auricle.generate.timestamps`) and read back as the distinct labels in
  order, comma-separated; their score leaves out the timestamp tokens (they say when, not what: the
  probability of one exact 10 ms time is small even when the model is sure of the labels).
* **closed** (``candidates=[...]``): every candidate is scored the same way (its tokens and the end
  token after the prompt) and the scores are softmaxed over the candidates; ``labels`` ranks them.
  Nothing is generated, so the label is always one of the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from auricle.audio.io import SAMPLE_RATE
from auricle.errors import ConfigError
from auricle.generate.timestamps import TimestampRules
from auricle.tasks.analysis import build_requests, run_task
from auricle.tasks.engine import Engine, Request
from auricle.tasks.longform import DEFAULT_MAX_SECONDS
from auricle.tasks.prompts import resolve_format
from auricle.tasks.results import Classification, Event, Label
from auricle.tasks.srwt import Piece, parse_srwt, plain_text

#: Public kind -> tag task (``auricle.prompt.tags``).
KINDS: dict[str, str] = {"scene": "scene", "event": "event", "emotion": "emotion", "vocal_sound": "vocal"}
#: New tokens for a label (the official evaluation allows 4 to 10).
MAX_LABEL_TOKENS = 16
#: New tokens for a timed event list (two timestamps and a label per event).
MAX_EVENT_TOKENS = 64


def classify(
    engine: Engine,
    audios: Sequence[np.ndarray],
    *,
    kind: str = "scene",
    candidates: Sequence[str] | None = None,
    task_format: str = "auto",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_new_tokens: int | None = None,
) -> list[Classification]:
    """Classify every audio; see the module docstring for what the scores are."""
    if kind not in KINDS:
        raise ConfigError(f"unknown classification kind {kind!r}; valid kinds: {list(KINDS)}")
    if candidates is not None:
        candidates = [str(c).strip() for c in candidates]
        if not candidates or not all(candidates) or len(set(candidates)) != len(candidates):
            raise ConfigError(f"candidates must be distinct non-empty labels, got {candidates!r}")
    # Free-form event answers in the tag format are timed, as event targets are in training
    # (auricle.prompt.tags): asking with <|notimestamps|> gets labels run together with no separator.
    fmt = resolve_format(task_format, engine.style)
    timed = {"timestamps": True} if kind == "event" and candidates is None and fmt == "tags" else {}
    requests = build_requests(
        engine, audios, KINDS[kind], task_format=task_format, max_seconds=max_seconds, **timed
    )
    end_id = _end_id(engine, fmt)
    if candidates is not None:
        conts = [engine.tokenizer.encode_text(c) + [end_id] for c in candidates]
        out = []
        for req in requests:
            logps = np.array(engine.score(req, conts))
            probs = np.exp(logps - logps.max())
            probs /= probs.sum()
            ranked = sorted(zip(candidates, probs.tolist()), key=lambda x: -x[1])
            labels = [Label(c, round(p, 6)) for c, p in ranked]
            out.append(Classification(kind, labels[0].label, labels[0].score, labels))
        return out
    limit = MAX_EVENT_TOKENS if kind == "event" else MAX_LABEL_TOKENS
    rules = TimestampRules.for_tokenizer(engine.tokenizer, "events") if timed else None
    answers = run_task(
        engine,
        requests,
        max_new_tokens=max_new_tokens or limit,
        task_format=task_format,
        timestamp_rules=rules,
    )
    out = []
    for a, audio in zip(answers, audios):
        label = event_list(a.pieces) if kind == "event" else plain_text(a.pieces)
        cont = a.ids + ([end_id] if a.result.finish_reason == "stop" else [])
        score = _answer_score(engine, a.request, cont, skip_timestamps=kind == "event") if cont else None
        events = timed_events(a.pieces, len(audio) / SAMPLE_RATE) if timed else []
        out.append(Classification(kind, label, score, [Label(label, score)], text=label, events=events))
    return out


def _answer_score(engine: Engine, request: Request, cont: list[int], *, skip_timestamps: bool) -> float:
    """Probability of an answer's tokens (timestamp tokens left out when ``skip_timestamps``)."""
    if not skip_timestamps:
        return round(math.exp(engine.score(request, [cont])[0]), 6)
    tok = engine.tokenizer
    lps = engine.token_logprobs(request, cont)
    return round(math.exp(sum(lp for t, lp in zip(cont, lps) if tok.id_to_time(t) is None)), 6)


def event_list(pieces) -> str:
    """Sound events read from an answer: timed output (``<|t0|>label<|t1|>`` per event, as SRWT-style
    event detection writes it) becomes the distinct labels in order, comma-separated."""
    labels = [p.text.strip() for p in pieces if p.kind == "text" and p.text.strip()]
    return ", ".join(dict.fromkeys(labels))


def timed_events(pieces: Sequence[Piece], duration: float) -> list[Event]:
    """The events of a timed answer (``<|start|>label<|end|>`` each), times clamped to the audio and
    missing ones interpolated as for SRWT words (``repaired``); none for an answer with no time."""
    if not any(p.kind == "time" for p in pieces):
        return []
    units = parse_srwt(pieces, start_time=0.0, end_time=duration, split_words=False)
    return [Event(u.text, round(u.start, 3), round(u.end, 3), u.repaired) for u in units if u.kind == "word"]


def _end_id(engine: Engine, fmt: str) -> int:
    """The token that ends an answer in the resolved format ``fmt``: ``<|im_end|>`` in chat prompts,
    else ``<|endoftext|>``."""
    tok = engine.tokenizer
    if fmt == "chat" and tok.has_special("<|im_end|>"):
        return tok.special_id("<|im_end|>")
    return tok.eos_id
