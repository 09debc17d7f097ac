"""Timestamp rules: constrained decoding that keeps timed answers well formed (as Whisper's
``ApplyTimestampRules`` does for its own format).

Two answer formats carry timestamp tokens (``auricle.prompt.tags``):

* ``"words"`` (SRWT, after the prompt's ``<|0.00|>``): ``word<|end|>`` per word and
  ``<|sil|><|t|>`` per pause, then the end token. Allowed after a timestamp: text, ``<|sil|>`` or
  the end; after ``<|sil|>``: a timestamp; inside a word: more text, its closing timestamp or the
  end.
* ``"events"`` (timed sound events, after ``<|timestamps|>``): ``<|start|>label<|end|>`` per
  event, then the end token. Allowed between events: an opening timestamp or the end; after an
  opening timestamp: label text; inside a label: more text, the closing timestamp or the end. An answer
  that starts with text instead (an untimed label list, as a model not trained on timed events
  may write) stays untimed: text until the end.

In ``events`` mode timestamps never go backwards (each is ≥ the previous one); in ``words`` mode
any time is allowed, since the SRWT parser repairs order and forbidding a backward time made
auricle-small run on in text. In both, no other special token is produced, and the end token stays
allowed everywhere except right after an opening event timestamp or ``<|sil|>`` (one more token
completes the form): forbidding it elsewhere makes a model that wants to stop mid-word run on to
the token limit. Without the rules, a small model that has half learned the event format writes
``<|0.05|>`` and stops (an event list with no label). Greedy decoding under the rules picks the
most likely token among those the format allows, so a well-trained model's output is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from auricle.errors import ConfigError
from auricle.tokenizer.base import Tokenizer
from auricle.tokenizer.specials import SIL, TIMESTAMP_TOKENS

Mode = Literal["words", "events"]

# Phases of the per-row state machine (see the module docstring).
_BETWEEN, _OPENED, _IN_TEXT, _START, _UNTIMED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class TimestampRules:
    """Token ids the rules need; make one with :meth:`for_tokenizer`."""

    mode: Mode
    timestamp_ids: tuple[int, ...]  # ids of <|0.00|> .. <|30.00|>, index = centiseconds
    special_ids: frozenset[int] = field(repr=False)  # every special id (never text)
    sil_id: int | None = None  # <|sil|> (words mode)

    def __post_init__(self) -> None:
        if self.mode not in ("words", "events"):
            raise ConfigError(f"timestamp rules mode must be 'words' or 'events', got {self.mode!r}")
        if self.mode == "words" and self.sil_id is None:
            raise ConfigError("timestamp rules in 'words' mode need the <|sil|> id")

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer, mode: Mode) -> TimestampRules:
        """The rules for ``tokenizer``'s ids; it must have the Qwen-Audio timestamp tokens."""
        if not tokenizer.has_timestamps:
            raise ConfigError("timestamp rules need a vocabulary with timestamp tokens (Qwen-Audio v1)")
        sil = tokenizer.special_id(SIL) if tokenizer.has_special(SIL) else None
        return cls(
            mode=mode,
            timestamp_ids=tuple(tokenizer.special_id(t) for t in TIMESTAMP_TOKENS),
            special_ids=frozenset(tokenizer.special_tokens.values()),
            sil_id=sil,
        )


class TimestampState:
    """The rules applied to a running batch: masks a step's logits, then follows the chosen ids.

    Everything stays on the logits' device; the per-step cost is a few [B, V] boolean operations.
    """

    def __init__(
        self, rules: TimestampRules, vocab: int, stop_ids: set[int], rows: int, device: torch.device
    ) -> None:
        self.rules = rules
        ids = torch.arange(vocab, device=device)
        centis = torch.full((vocab,), -1, dtype=torch.long, device=device)
        ts = torch.tensor([i for i in rules.timestamp_ids if i < vocab], dtype=torch.long, device=device)
        centis[ts] = torch.arange(ts.numel(), device=device)
        self.timestamp_ids = ts  # [T] the timestamp ids in time order (index = centiseconds)
        self.centis = centis  # [V] centiseconds of a timestamp id, -1 for every other id
        self.is_ts = centis >= 0
        special = torch.zeros(vocab, dtype=torch.bool, device=device)
        special[[i for i in rules.special_ids if i < vocab]] = True
        self.is_text = ~special
        self.is_stop = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.is_stop[[i for i in stop_ids if 0 <= i < vocab]] = True
        self.is_sil = ids == (rules.sil_id if rules.sil_id is not None else -1)
        first = _START if rules.mode == "events" else _BETWEEN  # the words prompt ends with <|0.00|>
        self.phase = torch.full((rows,), first, dtype=torch.long, device=device)
        self.last = torch.zeros(rows, dtype=torch.long, device=device)  # centiseconds of the last timestamp

    def allowed(self) -> torch.Tensor:
        """[B, V] bool: the ids each row may produce next."""
        between = (self.phase == _BETWEEN)[:, None]
        opened = (self.phase == _OPENED)[:, None]
        in_text = (self.phase == _IN_TEXT)[:, None]
        text, stop, sil = self.is_text[None], self.is_stop[None], self.is_sil[None]
        if self.rules.mode == "events":
            forward = self.is_ts[None] & (self.centis[None] >= self.last[:, None])
            start = (self.phase == _START)[:, None]
            untimed = (self.phase == _UNTIMED)[:, None]
            ok = between & forward | opened & text | in_text & (text | forward)
            ok = ok | start & (forward | text) | untimed & text
            ok = ok | ~opened & stop  # an opened event must get a label
        else:
            # any time, not only forward ones: the SRWT parser repairs order, and a model that wants
            # to go back in time and may not falls to text and runs on (measured: WER 48% -> 73%)
            any_ts = self.is_ts[None]
            ok = between & (text | sil) | opened & any_ts | in_text & (text | any_ts)
            ok = ok | ~opened & stop  # after <|sil|> comes its timestamp
        return ok  # a row left with no choice may stop: the engine's chooser allows it

    def refine(self, scores: torch.Tensor, tok: torch.Tensor, window: int) -> torch.Tensor:
        """Greedy ids [B] with each chosen timestamp moved to the expected time of the model's
        timestamp distribution within ``window`` centiseconds of it (rounded; only times the rules
        allow, since ``scores`` [B, V] hold -inf elsewhere). A small model's timestamp
        distribution is broad and its peak clusters on a few tokens; the local mean is closer to
        the reference (docs/generation.md). Other ids are returned unchanged."""
        if window <= 0:
            return tok
        centi = self.centis[tok]
        timed = centi >= 0  # no host sync: rows without a timestamp are computed and discarded
        centi = centi.clamp(min=0)
        n = self.timestamp_ids.numel()
        near = centi[:, None] + torch.arange(-window, window + 1, device=tok.device)  # [B, 2w+1]
        inside = (near >= 0) & (near < n)
        near = near.clamp(0, n - 1)
        local = scores.gather(1, self.timestamp_ids[near]).float().masked_fill(~inside, float("-inf"))
        # rows without a timestamp may have no finite score here (NaN): clamp keeps their index valid
        expected = (torch.softmax(local, -1) * near).sum(-1).round().long().clamp(0, n - 1)
        moved = self.timestamp_ids[expected]
        allowed = torch.isfinite(scores.gather(1, moved[:, None]))[:, 0]
        return torch.where(timed & allowed, moved, tok)

    def update(self, tok: torch.Tensor) -> None:
        """Follow the ids [B] just chosen."""
        is_ts = self.is_ts[tok]
        if self.rules.mode == "events":
            after_ts = torch.where(self.phase == _IN_TEXT, _BETWEEN, _OPENED)
            untimed = (self.phase == _START) | (self.phase == _UNTIMED)
            nxt = torch.where(is_ts, after_ts, torch.where(untimed, _UNTIMED, _IN_TEXT))
        else:
            nxt = torch.where(self.is_sil[tok], _OPENED, _IN_TEXT)
            nxt = torch.where(is_ts, _BETWEEN, nxt)
        self.phase = nxt
        self.last = torch.where(is_ts, self.centis[tok], self.last)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        self.phase, self.last = self.phase[rows], self.last[rows]
