"""Metrics of the Qwen-Audio evaluation (spec §8): WER/CER, BLEU, word-boundary shift, accuracy, CIDEr-D.

Text normalisation follows the official ``evaluate_asr.py``: special tags are replaced by spaces,
whitespace collapsed, case folded; Chinese is scored per character.
"""

from __future__ import annotations

import difflib
import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_TAG = re.compile(r"<\|.*?\|>")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([!,.?;:])")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PUNCT = str.maketrans("", "", string.punctuation + "，。！？；：、“”‘’（）《》")


def remove_special(text: str) -> str:
    """The official ``remove_sp``: tags to spaces, collapse whitespace, no space before punctuation."""
    text = _TAG.sub(" ", text)
    text = re.sub(r"\s+", " ", text)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()


def normalize(text: str, *, strip_punctuation: bool = True) -> str:
    """Lower-cased text without tags (and without punctuation unless asked), single-spaced."""
    text = remove_special(text).lower()
    if strip_punctuation:
        text = text.translate(_PUNCT)
    return re.sub(r"\s+", " ", text).strip()


def units(text: str, language: str | None = None) -> list[str]:
    """Scoring units: characters for Chinese (or any text containing CJK), else words."""
    if language in ("zh", "ja", "zh_tr") or _CJK.search(text):
        return [c for c in text if not c.isspace()]
    return text.split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_rate(
    refs: Sequence[str], hyps: Sequence[str], language: str | None = None, *, strip_punctuation: bool = True
) -> float:
    """Corpus WER (or CER for Chinese): Σ edit distance / Σ reference units, after normalisation."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    errors = total = 0
    for r, h in zip(refs, hyps):
        e, n = edit_counts(r, h, language, strip_punctuation=strip_punctuation)
        errors += e
        total += n
    return errors / max(total, 1)


def edit_counts(
    ref: str, hyp: str, language: str | None = None, *, strip_punctuation: bool = True
) -> tuple[int, int]:
    """One utterance's share of :func:`error_rate`: (edit distance, reference units) after normalisation."""
    ru = units(normalize(ref, strip_punctuation=strip_punctuation), language)
    hu = units(normalize(hyp, strip_punctuation=strip_punctuation), language)
    return edit_distance(ru, hu), len(ru)


def bleu(refs: Sequence[str], hyps: Sequence[str], target_language: str = "en") -> float:
    """Corpus BLEU with the official tokenizer choice: ``zh`` for Chinese, ``ja-mecab`` for Japanese, else 13a."""
    import sacrebleu

    tokenize = bleu_tokenizer(target_language)
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)], tokenize=tokenize).score)


def bleu_tokenizer(target_language: str | None) -> str:
    """sacrebleu's tokenizer for a target language, as the official eval chooses it."""
    return {"zh": "zh", "ja": "ja-mecab"}.get(target_language or "en", "13a")


def accuracy(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Exact-match accuracy after stripping surrounding whitespace and case."""
    if not refs:
        return 0.0
    return sum(r.strip().lower() == h.strip().lower() for r, h in zip(refs, hyps)) / len(refs)


@dataclass
class TimedWord:
    """A word with start and end in seconds (the unit word-boundary metrics compare)."""

    word: str
    start: float
    end: float


def word_shift_ms(ref: Sequence[TimedWord], hyp: Sequence[TimedWord]) -> tuple[float, int]:
    """Average absolute shift (AAS) of word boundaries, in ms, over words aligned by text.

    Words are aligned with ``difflib.SequenceMatcher`` on their normalised text (as the official
    SRWT evaluation does); each matched word contributes ``|Δstart| + |Δend|`` / 2. Returns the mean
    and the number of matched words.
    """
    a = [normalize(w.word) for w in ref]
    b = [normalize(w.word) for w in hyp]
    shifts = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            r, h = ref[block.a + k], hyp[block.b + k]
            shifts.append((abs(r.start - h.start) + abs(r.end - h.end)) / 2 * 1000.0)
    return (sum(shifts) / len(shifts) if shifts else float("nan")), len(shifts)


def pooled_word_shift_ms(
    pairs: Iterable[tuple[Sequence[TimedWord], Sequence[TimedWord]]],
) -> tuple[float | None, int]:
    """:func:`word_shift_ms` over many utterances (``(reference, hypothesis)`` word lists): the mean
    over every matched word of all of them, and how many matched (mean None when none did)."""
    total, matched = 0.0, 0
    for ref, hyp in pairs:
        shift, n = word_shift_ms(ref, hyp)
        if n:
            total += shift * n
            matched += n
    return (total / matched if matched else None), matched


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def cider_d(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4, sigma: float = 6.0) -> float:
    """CIDEr-D (Vedantam et al. 2015, the coco-caption variant) over a corpus, scaled by 10.

    ``refs[i]`` are the reference captions of item i. TF-IDF n-gram vectors (n = 1..4, document
    frequency over the reference sets), cosine with candidate counts clipped to the reference counts,
    a Gaussian length penalty (σ = 6), averaged over references and n-gram orders; the corpus score
    is the mean of :func:`cider_d_items`.
    """
    scores = cider_d_items(refs, hyps, n=n, sigma=sigma)
    return sum(scores) / max(len(scores), 1)


def cider_d_items(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4, sigma: float = 6.0
) -> list[float]:
    """Each item's CIDEr-D (scaled by 10), document frequencies over all of ``refs``."""
    tok = [[normalize(r).split() for r in rs] for rs in refs]
    hyp_tok = [normalize(h).split() for h in hyps]
    df: list[Counter] = [Counter() for _ in range(n)]
    for rs in tok:
        for k in range(n):
            seen = set()
            for r in rs:
                seen |= set(_ngrams(r, k + 1))
            df[k].update(seen)
    log_n = math.log(float(max(len(refs), 1)))

    def vec(tokens: list[str]) -> tuple[list[dict], list[float]]:
        vs, norms = [], []
        for k in range(n):
            counts = _ngrams(tokens, k + 1)
            v = {g: c * (log_n - math.log(max(1.0, df[k][g]))) for g, c in counts.items()}
            vs.append(v)
            norms.append(math.sqrt(sum(x * x for x in v.values())))
        return vs, norms

    scores = []
    for rs, h in zip(tok, hyp_tok):
        hv, hn = vec(h)
        total = [0.0] * n
        for r in rs:
            rv, rn = vec(r)
            delta = len(h) - len(r)
            for k in range(n):
                dot = sum(min(hv[k][g], rv[k].get(g, 0.0)) * rv[k].get(g, 0.0) for g in hv[k])
                if hn[k] and rn[k]:
                    total[k] += dot / (hn[k] * rn[k]) * math.exp(-(delta**2) / (2 * sigma**2))
        scores.append(sum(t / max(len(rs), 1) for t in total) / n * 10.0)
    return scores
