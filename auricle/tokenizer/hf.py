"""Byte-level BPE tokenizers in the Hugging Face ``tokenizers`` format: Qwen2-Audio (v2) and auricle's own.

Every added token of a ``tokenizer.json`` counts as a special token here. User text is encoded by
a private copy of the tokenizer on which every added token is marked special and
``encode_special_tokens`` is on, so no added token is ever matched inside text (the same
behaviour as transformers' ``split_special_tokens=True``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFBackend

from auricle.errors import CheckpointError, ConfigError
from auricle.tokenizer.base import Tokenizer
from auricle.tokenizer.qwen_audio import PAT_STR
from auricle.tokenizer.specials import ALL_V1_SPECIALS, ENDOFTEXT

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """The GPT-2 byte-level alphabet: printable stand-in character -> byte value."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shift)
            shift += 1
    return {c: b for b, c in chars.items()}


def _token_name(token: Any) -> str:
    """A token as written in ``tokenizer_config.json``: a string or an AddedToken dict."""
    return token["content"] if isinstance(token, dict) else token


class HFTokenizer(Tokenizer):
    """A ``tokenizers`` vocabulary (v2 or auricle's own) behind the :class:`Tokenizer` interface."""

    def __init__(
        self,
        tokenizer: str | Path | HFBackend,
        *,
        eos_token: str = ENDOFTEXT,
        pad_token: str = ENDOFTEXT,
        config: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(tokenizer, HFBackend):
            self.path: Path | None = None
            self._tok = tokenizer
        else:
            self.path = Path(tokenizer)
            try:
                self._tok = HFBackend.from_file(str(self.path))
            except Exception as e:  # the library raises plain Exception subclasses for bad JSON
                raise CheckpointError(f"cannot load tokenizer file {self.path}: {e}") from e
        added = self._tok.get_added_tokens_decoder()
        specials = {tok.content: i for i, tok in added.items()}
        super().__init__(specials, eos_token=eos_token, pad_token=pad_token)
        self._config = dict(config or {})
        # Copy used for user text: every added token special and never matched in text.
        self._plain = HFBackend.from_str(self._tok.to_str())
        self._plain.add_special_tokens(
            [AddedToken(t.content, special=True) for t in added.values() if not t.special]
        )
        self._plain.encode_special_tokens = True
        self._vocab_size = self._tok.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_folder(cls, folder: str | Path) -> HFTokenizer:
        """Load ``tokenizer.json`` and, when present, the eos/pad tokens of ``tokenizer_config.json``."""
        folder = Path(folder)
        config: dict[str, Any] = {}
        config_path = folder / TOKENIZER_CONFIG_FILE
        if config_path.is_file():
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise CheckpointError(f"{config_path} is not valid JSON: {e}") from e
        kwargs = {
            f"{role}_token": _token_name(config[f"{role}_token"])
            for role in ("eos", "pad")
            if config.get(f"{role}_token")
        }
        if (folder / TOKENIZER_FILE).is_file():
            return cls(folder / TOKENIZER_FILE, config=config, **kwargs)
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            return cls(_from_vocab_and_merges(folder, config), config=config, **kwargs)
        raise CheckpointError(f"{folder} has no {TOKENIZER_FILE} (nor vocab.json + merges.txt)")

    def _encode_ordinary(self, text: str) -> list[int]:
        return self._plain.encode(text, add_special_tokens=False).ids

    def _decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def token_bytes(self, id: int) -> bytes:
        """The bytes one id stands for (UTF-8 of the token string for special tokens)."""
        (id,) = self._check_ids([id])
        special = self._specials_by_id.get(id)
        token = self._tok.id_to_token(id)
        if special is not None or token is None:
            return (special or self._tok.decode([id])).encode("utf-8")
        table = _byte_level_decoder()
        if all(c in table for c in token):
            return bytes(table[c] for c in token)
        return token.encode("utf-8")

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included."""
        return self._vocab_size

    @property
    def backend(self) -> HFBackend:
        """The underlying ``tokenizers.Tokenizer`` (matches added tokens in text: not for user input)."""
        return self._tok

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``tokenizer.json`` and ``tokenizer_config.json`` (loadable by transformers) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tok_path, config_path = folder / TOKENIZER_FILE, folder / TOKENIZER_CONFIG_FILE
        self._tok.save(str(tok_path))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
        config.update(self._config)
        config.update(eos_token=self._eos_token, pad_token=self._pad_token)
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return [tok_path, config_path]

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"HFTokenizer({where!r}, vocab_size={self.vocab_size}, specials={len(self._specials)})"


def qwen_byte_level_bpe(
    vocab: dict[str, int] | None = None, merges: list[tuple[str, str]] | None = None
) -> HFBackend:
    """An (optionally empty) byte-level BPE with the Qwen pipeline: NFC, the Qwen regex split, byte level."""
    tok = HFBackend(models.BPE(vocab=vocab, merges=merges) if vocab is not None else models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PAT_STR), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def _add_specials(tok: HFBackend, specials: Sequence[str]) -> None:
    """Append ``specials`` as consecutive ids after the current vocabulary, or raise."""
    if len(set(specials)) != len(specials):
        raise ConfigError("special tokens must be unique; got duplicates")
    first = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    wrong = [s for i, s in enumerate(specials) if tok.token_to_id(s) != first + i]
    if wrong:
        raise ConfigError(f"special tokens {wrong[:5]} collide with ordinary tokens of the vocabulary")


def _from_vocab_and_merges(folder: Path, config: dict[str, Any]) -> HFBackend:
    """Rebuild a Qwen2 tokenizer from ``vocab.json`` + ``merges.txt`` and the config's added tokens."""
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    tok = qwen_byte_level_bpe(vocab, merges)
    added = {int(i): _token_name(t) for i, t in config.get("added_tokens_decoder", {}).items()}
    if (folder / "added_tokens.json").is_file():
        extra = json.loads((folder / "added_tokens.json").read_text(encoding="utf-8"))
        added.update({int(i): t for t, i in extra.items()})
    ordered = [added[i] for i in sorted(added)]
    if sorted(added) != list(range(len(vocab), len(vocab) + len(added))):
        raise CheckpointError(
            f"{folder}: added token ids are not consecutive after the {len(vocab)} BPE tokens"
        )
    _add_specials(tok, ordered)
    return tok


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_folder: str | Path | None = None,
    specials: Sequence[str] = ALL_V1_SPECIALS,
    *,
    min_frequency: int = 2,
) -> HFTokenizer:
    """Train a byte-level BPE with the Qwen pre-tokenisation and append ``specials`` after it.

    ``vocab_size`` counts the BPE part (the 256 byte symbols plus merges; a small corpus may give
    fewer); the special tokens follow it with consecutive ids in the order given, as in v1.
    Pass ``ALL_V1_SPECIALS + extra`` to add tokens of your own. Saved to ``out_folder`` if given.
    """
    if vocab_size < 256:
        raise ConfigError(f"vocab_size must be at least 256 (the byte alphabet), got {vocab_size}")
    tok = qwen_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    _add_specials(tok, list(specials))
    result = HFTokenizer(tok)
    if out_folder is not None:
        result.save(out_folder)
    return result
