"""Broad per-language vocabularies from wordfreq's frequency-ranked word lists, filtered sensibly.

A word is kept when it is written only in the language's own letters, has a sensible length,
is not on a small list of offensive words, and espeak-ng reads it with the language's own
rules (no switch to English or spelling of an unknown character). The result depends only on
the wordfreq and espeak-ng versions, so the corpus is reproducible for pinned versions.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import os
import re
from pathlib import Path

from auricle.errors import ConfigError

VOCAB_SIZE = 10000  # frequency ranks read per language

ESPEAK_VOICE = {
    "en": "en-us",
    "zh": "cmn-latn-pinyin",
    "de": "de",
    "fr": "fr",
    "es": "es",
    "it": "it",
    "ja": "ja",
    "ko": "ko",
}

_LETTERS = {
    "en": r"[a-z]+",
    "de": r"[a-zäöüß]+",
    "fr": r"[a-zàâæçéèêëîïôœùûüÿ]+",
    "es": r"[a-záéíñóúü]+",
    "it": r"[a-zàèéìíîòóùú]+",
    "zh": r"[\u4e00-\u9fff]+",
    "ja": r"[\u3041-\u3096\u30a1-\u30fa\u30fc]+",  # kana only: espeak-ng reads no kanji
    "ko": r"[\uac00-\ud7a3]+",
}
_VOWELS = {lang: "aeiouyäöüàâæéèêëîïôœùûÿáíóúìò" for lang in ("en", "de", "fr", "es", "it")}
_LENGTH = {"zh": (1, 4), "ja": (2, 8), "ko": (1, 5)}
_DEFAULT_LENGTH = (2, 14)

# Words (or, for the Latin-script languages, stems) that must not appear in generated speech.
_BLOCK_STEMS = (
    "fuck shit cunt twat bitch pussy whore slut nigg porn penis vagina wank dildo orgasm horny murder "
    "suicide nazi hitler bastard scheiß scheiss fotze schwuchtel wichs nutte putain salope connard "
    "enculé couille mierda joder jodid maric cabrón pendej cazzo stronz puttana vaffan fanculo cornut minchia"
).split()
_BLOCK_WORDS = frozenset(
    "ass hell damn god jesus christ allah drug drugs gun guns sex sexy nude naked anal arse dick cock tits "
    "boob boobs piss rape kill killed killing killer terror terrorist arsch hure fick verarscht merde chier bite pute "
    "culo puta coño polla verga figa merda troia "
    "操 屌 逼 婊子 妓女 淫 奸 屎 尿 色情 性交 傻逼 他妈 妈的 去死 自杀 杀人 毒品 强奸 裸体 做爱 阴道 阴茎 "
    "ちんこ まんこ せっくす セックス えろ エロ しね ころす くそ "
    "씨발 시발 좆 병신 섹스 개새끼 존나 미친 죽어 자살 강간".split()
)


def is_clean(word: str, language: str) -> bool:
    """Whether ``word`` passes the script, length and offensive-word filters for ``language``."""
    if language not in _LETTERS:
        raise ConfigError(f"no vocabulary rules for language {language!r}; valid: {sorted(_LETTERS)}")
    lo, hi = _LENGTH.get(language, _DEFAULT_LENGTH)
    if not (lo <= len(word) <= hi) or not re.fullmatch(_LETTERS[language], word):
        return False
    if word in _BLOCK_WORDS:
        return False
    if language in _VOWELS and not any(c in _VOWELS[language] for c in word):
        return False  # abbreviations such as "dc" or "km"
    if language in ("zh", "ja", "ko"):
        return not any(bad in word for bad in _BLOCK_WORDS if len(bad) > 1)
    return not any(stem in word for stem in _BLOCK_STEMS)


def _espeak_reads_natively(words: list[str], language: str) -> list[bool]:
    """For each word, whether espeak-ng phonemises it without switching language (run in a fork)."""
    from auricle.data.synth.backends import get_backend
    from auricle.data.synth.forking import run_forked

    lib = get_backend("espeak")._load()
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]

    def check() -> list[bool]:
        lib.espeak_SetVoiceByName(ESPEAK_VOICE[language].encode())
        flags = []
        for word in words:
            buf = ctypes.create_string_buffer(word.encode("utf-8"))
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            phonemes = b""
            while ptr.value:
                phonemes += lib.espeak_TextToPhonemes(ctypes.byref(ptr), 1, 0) or b""
            flags.append(bool(phonemes.strip()) and b"(" not in phonemes)
        return flags

    return run_forked(check)


_FILTER_VERSION = 1  # bump when the filters change, to invalidate cached vocabularies


def _cache_path(language: str, size: int) -> Path:
    from auricle.data.synth.backends import get_backend

    lib = get_backend("espeak")._load()
    lib.espeak_Info.restype = ctypes.c_char_p
    espeak = (lib.espeak_Info(None) or b"unknown").decode()
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auricle" / "synth-vocab"
    tag = f"{language}-{size}-wordfreq{importlib.metadata.version('wordfreq')}-espeak{espeak}-filter{_FILTER_VERSION}"
    return root / f"{tag}.txt"


@functools.cache
def vocabulary(language: str, size: int = VOCAB_SIZE) -> tuple[str, ...]:
    """The filtered vocabulary of ``language`` (frequency order), from wordfreq's top ``size`` words.

    The espeak-ng check takes about a second per language, so the result is cached on disk
    (``~/.cache/auricle/synth-vocab``); the cache holds exactly what would be recomputed.
    """
    import wordfreq

    try:
        path: Path | None = _cache_path(language, size)
    except (RuntimeError, KeyError):  # no usable home folder: no cache
        path = None
    if path is not None and path.is_file():
        return tuple(path.read_text(encoding="utf-8").split("\n"))
    words = [w for w in dict.fromkeys(wordfreq.top_n_list(language, size)) if is_clean(w, language)]
    native = _espeak_reads_natively(words, language)
    vocab = tuple(w for w, ok in zip(words, native) if ok)
    if path is None:
        return vocab
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(vocab), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the recomputation
    return vocab
