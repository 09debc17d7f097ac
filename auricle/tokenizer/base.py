"""The one tokenizer interface every auricle component uses, whatever the vocabulary behind it."""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from auricle.errors import ConfigError, PromptError
from auricle.tokenizer.specials import ENDOFTEXT, parse_timestamp, timestamp_token


class Tokenizer(ABC):
    """A vocabulary of ordinary (BPE) tokens plus named special tokens.

    The safety rule every implementation keeps: :meth:`encode_text` never produces a special
    token. A special-token string inside text (``"<|im_end|>"``, ``"<audio>"``) is encoded as the
    plain characters it is made of. Special tokens enter a sequence only through
    :meth:`special_id`, which the prompt encoder calls for typed ``Special`` segments.
    """

    def __init__(
        self, specials: dict[str, int], eos_token: str = ENDOFTEXT, pad_token: str = ENDOFTEXT
    ) -> None:
        self._specials = dict(specials)
        self._specials_by_id = {i: t for t, i in self._specials.items()}
        for role, token in (("eos", eos_token), ("pad", pad_token)):
            if token not in self._specials:
                raise ConfigError(f"{role} token {token!r} is not a special token of this vocabulary")
        self._eos_token = eos_token
        self._pad_token = pad_token

    # --- implemented by each vocabulary ---------------------------------------------------------
    @abstractmethod
    def _encode_ordinary(self, text: str) -> list[int]:
        """BPE ids of already NFC-normalised text, with no special-token matching."""

    @abstractmethod
    def _decode(self, ids: list[int]) -> str:
        """Text of known ids; invalid UTF-8 becomes U+FFFD."""

    @abstractmethod
    def token_bytes(self, id: int) -> bytes:
        """The bytes one id stands for (UTF-8 of the token string for special tokens)."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids the tokenizer defines (ordinary + special); ids are ``0 .. vocab_size - 1``."""

    @abstractmethod
    def save(self, folder: str | Path) -> list[Path]:
        """Write the tokenizer files into ``folder`` (created if needed); returns the paths written."""

    # --- shared behaviour -----------------------------------------------------------------------
    def encode_text(self, text: str) -> list[int]:
        """Ids of ``text`` after NFC normalisation; special-token strings stay plain text."""
        if not isinstance(text, str):
            raise PromptError(f"text to encode must be a str, got {type(text).__name__}")
        return self._encode_ordinary(unicodedata.normalize("NFC", text))

    def special_id(self, token: str) -> int:
        """Id of a special token; raises PromptError naming the token if this vocabulary lacks it."""
        try:
            return self._specials[token]
        except (KeyError, TypeError):
            raise PromptError(
                f"special token {token!r} is not in this tokenizer's vocabulary "
                f"({type(self).__name__}, {len(self._specials)} special tokens); "
                "check the prompt style matches the checkpoint (v1 task tags do not exist in Qwen2-Audio)"
            ) from None

    def has_special(self, token: str) -> bool:
        """Whether ``token`` is a special token of this vocabulary."""
        return token in self._specials

    def is_special(self, id: int) -> bool:
        """Whether ``id`` is the id of a special token."""
        return id in self._specials_by_id

    def id_to_token(self, id: int) -> str:
        """The special-token string of a special id, else the token's text (invalid UTF-8 as U+FFFD)."""
        special = self._specials_by_id.get(id)
        if special is not None:
            return special
        return self.token_bytes(id).decode("utf-8", errors="replace")

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; special tokens appear as their strings unless ``skip_special_tokens``."""
        ids = self._check_ids(ids)
        if skip_special_tokens:
            ids = [i for i in ids if not self.is_special(i)]
        return self._decode(ids)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """A copy of the special-token table (token string -> id)."""
        return dict(self._specials)

    @property
    def eos_id(self) -> int:
        """Id that ends a generated document (``<|endoftext|>`` unless the folder's config says otherwise)."""
        return self.special_id(self._eos_token)

    @property
    def pad_id(self) -> int:
        """Id used to pad batches (``<|endoftext|>``, as the official v1 evaluation does)."""
        return self.special_id(self._pad_token)

    @property
    def has_timestamps(self) -> bool:
        """Whether the vocabulary has the ``<|0.00|>`` .. ``<|30.00|>`` timestamp tokens."""
        return self.has_special(timestamp_token(0.0)) and self.has_special(timestamp_token(30.0))

    def timestamp_id(self, t: float) -> int:
        """Id of the timestamp token nearest to ``t`` seconds (10 ms steps, clamped to [0, 30])."""
        if not self.has_timestamps:
            raise PromptError(f"{type(self).__name__} has no timestamp tokens (Qwen2-Audio has none)")
        return self.special_id(timestamp_token(t))

    def id_to_time(self, id: int) -> float | None:
        """Seconds of a timestamp id; ``None`` for every other id."""
        special = self._specials_by_id.get(id)
        return None if special is None else parse_timestamp(special)

    def _check_ids(self, ids: Sequence[int]) -> list[int]:
        """``ids`` as ints, or PromptError naming those outside the vocabulary."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise PromptError(
                f"cannot decode ids {bad[:5]}: this tokenizer defines ids 0..{self.vocab_size - 1} "
                "(mask logits beyond the vocabulary before sampling)"
            )
        return ids
