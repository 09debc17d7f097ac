"""The Qwen-Audio (v1) tokenizer: tiktoken BPE over ``qwen.tiktoken`` plus 3,522 special tokens."""

from __future__ import annotations

import base64
from pathlib import Path

import tiktoken

from auricle.errors import CheckpointError
from auricle.tokenizer.base import Tokenizer
from auricle.tokenizer.specials import V1_FIRST_SPECIAL_ID, V1_SPECIALS

#: File name of the v1 BPE ranks inside a checkpoint folder.
TIKTOKEN_FILE = "qwen.tiktoken"

#: Pre-tokenisation regex of Qwen (v1 and v2 alike): one digit per token, contractions split off.
PAT_STR = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def read_tiktoken_ranks(path: str | Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (one ``base64(token_bytes) rank`` per line) from local disk only."""
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as e:
        raise CheckpointError(f"cannot read the v1 vocabulary {path}: {e}") from e
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as e:
            raise CheckpointError(f"{path}:{lineno}: not a 'base64 rank' line ({e})") from e
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise CheckpointError(f"{path}: ranks are not exactly 0..{len(ranks) - 1}")
    return ranks


class QwenAudioTokenizer(Tokenizer):
    """The v1 vocabulary: 151,643 BPE ranks (ids 0..151642) then the specials (151643..155164).

    ``len(tokenizer)`` is 155,165; the v1 model's embedding has 155,947 rows (ids 155165..155946
    exist in the model only and cannot be decoded).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ranks = read_tiktoken_ranks(self.path)
        if len(self._ranks) != V1_FIRST_SPECIAL_ID:
            raise CheckpointError(
                f"{self.path} has {len(self._ranks)} BPE ranks; the Qwen-Audio vocabulary has "
                f"{V1_FIRST_SPECIAL_ID}. Is this the qwen.tiktoken of a Qwen-Audio checkpoint?"
            )
        specials = {token: V1_FIRST_SPECIAL_ID + i for i, token in enumerate(V1_SPECIALS)}
        super().__init__(specials)
        self._enc = tiktoken.Encoding(
            "Qwen", pat_str=PAT_STR, mergeable_ranks=self._ranks, special_tokens=specials
        )
        self._bytes_by_id = {rank: token for token, rank in self._ranks.items()}

    def _encode_ordinary(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def _decode(self, ids: list[int]) -> str:
        return self._enc.decode(ids, errors="replace")

    def token_bytes(self, id: int) -> bytes:
        """The bytes one id stands for (UTF-8 of the token string for special tokens)."""
        (id,) = self._check_ids([id])
        return self._enc.decode_single_token_bytes(id)

    @property
    def vocab_size(self) -> int:
        """155,165: the ids the tokenizer defines."""
        return self._enc.n_vocab

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``qwen.tiktoken`` (ranks in order, official line format) into ``folder``."""
        out = Path(folder) / TIKTOKEN_FILE
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = (
            base64.b64encode(self._bytes_by_id[r]) + b" " + str(r).encode() for r in range(len(self._ranks))
        )
        out.write_bytes(b"\n".join(lines) + b"\n")
        return [out]

    def __repr__(self) -> str:
        return f"QwenAudioTokenizer({str(self.path)!r}, vocab_size={self.vocab_size})"
