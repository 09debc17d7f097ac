"""Tokenizers: the v1 tiktoken vocabulary, ``tokenizers`` vocabularies (v2, auricle's own), special tokens.

``load_tokenizer(folder)`` picks the right class from the files in a checkpoint folder::

    tok = load_tokenizer("checkpoints/qwen-audio")   # has qwen.tiktoken -> QwenAudioTokenizer
    tok.encode_text("<|im_end|> is plain text here")  # never a special id
"""

from __future__ import annotations

from pathlib import Path

from auricle.errors import CheckpointError
from auricle.tokenizer.base import Tokenizer
from auricle.tokenizer.hf import TOKENIZER_FILE, HFTokenizer, train_bpe_tokenizer
from auricle.tokenizer.qwen_audio import TIKTOKEN_FILE, QwenAudioTokenizer
from auricle.tokenizer.specials import ALL_V1_SPECIALS, V2_SPECIALS, parse_timestamp, timestamp_token

__all__ = [
    "ALL_V1_SPECIALS",
    "V2_SPECIALS",
    "HFTokenizer",
    "QwenAudioTokenizer",
    "Tokenizer",
    "load_tokenizer",
    "parse_timestamp",
    "timestamp_token",
    "train_bpe_tokenizer",
]


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load the tokenizer of a checkpoint folder (or one tokenizer file).

    ``qwen.tiktoken`` -> :class:`QwenAudioTokenizer` (v1); ``tokenizer.json`` (or ``vocab.json`` +
    ``merges.txt``) -> :class:`HFTokenizer` (v2 and auricle's own). v1 wins if both are present.
    """
    path = Path(path)
    if path.is_file():
        if path.name.endswith(".tiktoken"):
            return QwenAudioTokenizer(path)
        if path.suffix == ".json":
            return HFTokenizer.from_folder(path.parent) if path.name == TOKENIZER_FILE else HFTokenizer(path)
        raise CheckpointError(f"{path}: not a tokenizer file; expected {TIKTOKEN_FILE} or {TOKENIZER_FILE}")
    if not path.is_dir():
        raise CheckpointError(f"tokenizer folder {path} does not exist")
    if (path / TIKTOKEN_FILE).is_file():
        return QwenAudioTokenizer(path / TIKTOKEN_FILE)
    if (path / TOKENIZER_FILE).is_file() or (path / "vocab.json").is_file():
        return HFTokenizer.from_folder(path)
    raise CheckpointError(
        f"{path} has no tokenizer: expected {TIKTOKEN_FILE} (Qwen-Audio) or {TOKENIZER_FILE} "
        "(Qwen2-Audio / auricle); point to the checkpoint folder that holds one"
    )
