"""UTF-8 rules: constrained decoding that never leaves a character half written.

Byte-level BPE vocabularies (Qwen's tiktoken ranks, auricle-small's BPE) have tokens that hold
only part of a multi-byte character: a Chinese character is often two tokens. A model that is
unsure may follow such a token with one that does not continue the character, and the decoded text
then shows U+FFFD. The rules follow each row's bytes through the UTF-8 automaton (RFC 3629: no
overlong forms, no surrogates, nothing above U+10FFFF) and allow only the tokens whose bytes keep
the text valid. A special token (the stop token, a timestamp) is allowed only between characters,
so every answer decodes without a replacement character. Greedy decoding under the rules picks the
most likely token among those that keep the text valid, so a model that writes valid UTF-8 anyway
produces the same tokens.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from auricle.tokenizer.base import Tokenizer

# Automaton states: ACCEPT between characters; CONT1..3 wait for that many continuation bytes
# (0x80-0xBF); the other four wait for a narrower second byte (after E0, ED, F0, F4); REJECT is dead.
ACCEPT, CONT1, CONT2, CONT3, AFTER_E0, AFTER_ED, AFTER_F0, AFTER_F4, REJECT = range(9)
_STATES = 9


def _byte_table() -> np.ndarray:
    """[state, byte] -> next state of the UTF-8 automaton."""
    table = np.full((_STATES, 256), REJECT, dtype=np.int8)
    lead = table[ACCEPT]
    lead[0x00:0x80] = ACCEPT
    lead[0xC2:0xE0] = CONT1
    lead[0xE0] = AFTER_E0
    lead[0xE1:0xF0] = CONT2
    lead[0xED] = AFTER_ED
    lead[0xF0] = AFTER_F0
    lead[0xF1:0xF4] = CONT3
    lead[0xF4] = AFTER_F4
    table[CONT1, 0x80:0xC0] = ACCEPT
    table[CONT2, 0x80:0xC0] = CONT1
    table[CONT3, 0x80:0xC0] = CONT2
    table[AFTER_E0, 0xA0:0xC0] = CONT1  # no overlong 3-byte forms
    table[AFTER_ED, 0x80:0xA0] = CONT1  # no surrogates
    table[AFTER_F0, 0x90:0xC0] = CONT2  # no overlong 4-byte forms
    table[AFTER_F4, 0x80:0x90] = CONT2  # nothing above U+10FFFF
    return table


@dataclass(frozen=True, eq=False)
class Utf8Rules:
    """Per-token transitions of the UTF-8 automaton; make one with :meth:`for_tokenizer`.

    ``next_state[s, t]`` is the state after token ``t`` from state ``s`` (``REJECT``: not allowed).
    """

    next_state: torch.Tensor = field(repr=False)  # [9, V] int8

    @property
    def vocab(self) -> int:
        """Number of ids the rules cover (the tokenizer's)."""
        return self.next_state.shape[1]

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer) -> Utf8Rules:
        """The rules for ``tokenizer``'s ids (computed once per tokenizer object)."""
        return _rules_for(tokenizer)

    @classmethod
    def from_token_bytes(cls, token_bytes: list[bytes], special: set[int]) -> Utf8Rules:
        """The rules for a vocabulary given each id's bytes; ``special`` ids are whole tokens."""
        vocab = len(token_bytes)
        lengths = np.fromiter((len(b) for b in token_bytes), dtype=np.int64, count=vocab)
        width = int(lengths.max(initial=0))
        table = _byte_table()
        matrix = np.zeros((vocab, max(width, 1)), dtype=np.uint8)
        for i, b in enumerate(token_bytes):
            matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        states = np.repeat(np.arange(_STATES, dtype=np.int8)[:, None], vocab, axis=1)
        for col in range(width):  # every token's bytes from every start state at once
            live = lengths > col
            states[:, live] = table[states[:, live], matrix[live, col]]
        empty = lengths == 0
        states[:, empty] = REJECT  # a token with no bytes would not move the text on
        specials = np.array(sorted(i for i in special if 0 <= i < vocab), dtype=np.int64)
        states[:, specials] = REJECT
        states[ACCEPT, specials] = ACCEPT  # special tokens only between characters
        return cls(torch.from_numpy(states))


@functools.lru_cache(maxsize=8)
def _rules_for(tokenizer: Tokenizer) -> Utf8Rules:
    ids = range(tokenizer.vocab_size)
    return Utf8Rules.from_token_bytes(
        [tokenizer.token_bytes(i) for i in ids], {i for i in ids if tokenizer.is_special(i)}
    )


class Utf8State:
    """The rules applied to a running batch: masks a step's logits, then follows the chosen ids."""

    def __init__(self, rules: Utf8Rules, rows: int, device: torch.device) -> None:
        self.next_state = rules.next_state.to(device=device, dtype=torch.long)
        self.allowed_by_state = self.next_state != REJECT  # [9, V]
        self.state = torch.full((rows,), ACCEPT, dtype=torch.long, device=device)

    def allowed(self, width: int) -> torch.Tensor:
        """[B, width] bool: the ids each row may produce next (ids beyond the rules' vocabulary: none)."""
        ok = self.allowed_by_state[self.state]
        vocab = ok.shape[1]
        if width < vocab:
            return ok[:, :width]
        if width > vocab:
            return torch.nn.functional.pad(ok, (0, width - vocab), value=False)
        return ok

    def update(self, tok: torch.Tensor) -> None:
        """Follow the ids [B] just chosen (an id outside the rules leaves the state unchanged)."""
        inside = tok < self.next_state.shape[1]
        nxt = self.next_state[self.state, tok.clamp(max=self.next_state.shape[1] - 1)]
        self.state = torch.where(inside & (nxt != REJECT), nxt, self.state)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        self.state = self.state[rows]
