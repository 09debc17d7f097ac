"""Compare two evaluations of the same manifest example by example: a paired bootstrap per metric.

Two models scored on one test split differ by more than their training: the split is a sample too.
:func:`compare_samples` reads the per-example files that ``auricle eval synthetic --samples`` writes
for both, pairs the examples by task and id, and resamples the paired examples with replacement
(Koehn 2004's paired bootstrap): each resample recomputes both models' metric on the same examples, and
the 2.5th and 97.5th percentiles of the difference give its 95% interval. An interval that excludes
zero is a difference the split can tell apart; one that includes it is not.

Metrics that are ratios of sums over examples (WER/CER, word shift, accuracies) are recomputed from
each sample's ``scores``; BLEU from sacrebleu's per-sentence statistics; CIDEr-D as the mean of the
captions' own scores, their document frequencies fixed over all shared references (resampling
recomputes the mean, not the frequencies: the usual approximation, as for BLEU's brevity penalty).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from auricle.errors import ConfigError
from auricle.eval.metrics import bleu_tokenizer, cider_d_items

CIDER_TASKS = ("caption", "music_caption")  # tasks scored by CIDEr-D: one caption per audio

#: Example indices [rows, n] -> one metric value per row.
Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass
class Difference:
    """One metric of two evaluations on the same ``count`` examples (values as the report gives them)."""

    metric: str
    count: int
    a: float
    b: float
    low: float  # 2.5th percentile of (b − a) over the resamples
    high: float  # 97.5th percentile

    @property
    def difference(self) -> float:
        """``b − a``."""
        return self.b - self.a

    @property
    def separable(self) -> bool:
        """True when the 95% interval of the difference excludes zero."""
        return self.low > 0 or self.high < 0


def open_samples(path: Path, mode: str) -> IO[str]:
    """Open a ``--samples`` file as text (``mode`` ``"rt"`` or ``"wt"``), gzipped when it ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_samples(path: str | Path) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    """The header and the samples (keyed by task and example id) of a ``--samples`` file (``.gz``: gzipped)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"samples file {str(p)!r} not found; write one with `auricle eval synthetic --samples`"
        )
    header: dict[str, Any] = {}
    samples: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        with open_samples(p, "rt") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if "header" in row:
                        header = row["header"]
                        continue
                    samples[(row["task"], row["id"])] = row
                except (ValueError, KeyError, TypeError) as e:
                    raise ConfigError(
                        f"{str(p)!r} line {n} is not a sample ({e}); expected a --samples file"
                    ) from e
    except (OSError, EOFError, UnicodeDecodeError) as e:  # a truncated or non-gzip .gz, binary junk
        raise ConfigError(f"cannot read samples file {str(p)!r}: {e}") from e
    if not samples:
        raise ConfigError(f"samples file {str(p)!r} holds no samples")
    return header, samples


def _ratio(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Σ num / Σ den over each row of example indices ``idx`` (NaN where Σ den is 0)."""
    n, d = num[idx].sum(axis=-1), den[idx].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1), np.nan)


def _bleu_statistics(rows: list[dict[str, Any]], target: str) -> tuple[np.ndarray, Any]:
    """sacrebleu's per-sentence BLEU statistics of ``rows`` and the metric that turns sums into scores."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize=bleu_tokenizer(target))
    # sacrebleu's own paired test (sacrebleu.significance) sums these statistics the same way
    stats = metric._extract_corpus_statistics(
        [r["prediction"] for r in rows], [[r["reference"] for r in rows]]
    )
    return np.asarray(stats, dtype=np.float64), metric


def _bleu_scores(stats: np.ndarray, metric: Any, idx: np.ndarray) -> np.ndarray:
    """BLEU over each row of example indices ``idx`` from the summed sentence statistics."""
    return np.array([metric._compute_score_from_stats(list(s)).score for s in stats[idx].sum(axis=1)])


def compare_samples(
    a_path: str | Path, b_path: str | Path, *, resamples: int = 1000, seed: int = 0
) -> list[Difference]:
    """Paired bootstrap of every resampleable metric of two ``--samples`` files of one manifest.

    Args:
        a_path, b_path: the two files (``b − a`` is reported).
        resamples: bootstrap resamples (1,000 gives the 95% interval to about ±0.1 of its width).
        seed: the resampling seed (the same seed resamples the same examples for every metric).

    Returns:
        One :class:`Difference` per metric present in both, in file order, over the examples present
        in both; a metric undefined for either (a word shift with no matched word) is left out.
        Raises ConfigError for unreadable files, no shared examples, or shared ids whose audio or
        reference differ (files of different manifests).
    """
    if resamples < 10:
        raise ConfigError(f"resamples must be >= 10, got {resamples}")
    _, a = read_samples(a_path)
    _, b = read_samples(b_path)
    keys = [k for k in a if k in b]
    if not keys:
        raise ConfigError(f"{a_path} and {b_path} share no examples: evaluate both on the same manifest")
    for k in keys:
        if a[k]["audio"] != b[k]["audio"] or a[k]["reference"] != b[k]["reference"]:
            raise ConfigError(
                f"example {k[1]!r} ({k[0]}) differs between the files (audio or reference): "
                "they were not made from the same manifest"
            )
    ratio_rows: dict[str, list[tuple[list[float], list[float]]]] = defaultdict(list)
    # metrics of whole rows (BLEU, CIDEr-D): metric name -> (A's rows, B's rows)
    row_pairs: dict[str, tuple[list[dict], list[dict]]] = defaultdict(lambda: ([], []))
    for k in keys:
        ra, rb = a[k], b[k]
        for name, share in ra["scores"].items():
            if name in rb["scores"]:
                ratio_rows[f"{k[0]}:{name}"].append((share, rb["scores"][name]))
        if k[0] == "s2tt":
            name = f"s2tt:bleu/{ra['language'] or 'auto'}-{ra['target_language']}"
        elif k[0] in CIDER_TASKS:
            name = f"{k[0]}:cider_d"
        else:
            continue
        row_pairs[name][0].append(ra)
        row_pairs[name][1].append(rb)

    # each metric as two scorers: example indices [resamples, n] -> the metric of A and of B per row
    scorers: list[tuple[str, int, Scorer, Scorer]] = []
    for name, pairs in ratio_rows.items():
        arr = np.asarray(pairs, dtype=np.float64)  # [n, 2 models, (num, den)]
        score_a, score_b = (partial(_ratio, arr[:, m, 0], arr[:, m, 1]) for m in (0, 1))
        scorers.append((name, len(arr), score_a, score_b))
    for name, (rows_a, rows_b) in row_pairs.items():
        if name.endswith("cider_d"):
            refs = [r["reference"] for r in rows_a]  # the same in both files (checked above)
            ones = np.ones(len(refs))
            score_a, score_b = (
                partial(_ratio, np.asarray(cider_d_items(refs, [r["prediction"] for r in rows])), ones)
                for rows in (rows_a, rows_b)
            )
        else:
            target = name.rsplit("-", 1)[1]
            score_a, score_b = (
                partial(_bleu_scores, *_bleu_statistics(rows, target)) for rows in (rows_a, rows_b)
            )
        scorers.append((name, len(rows_a), score_a, score_b))

    rng = np.random.default_rng(seed)
    out: list[Difference] = []
    for name, n, score_a, score_b in scorers:
        full = np.arange(n)[None]
        va, vb = float(score_a(full)[0]), float(score_b(full)[0])
        if not (np.isfinite(va) and np.isfinite(vb)):
            continue  # undefined for a model (e.g. a word shift with no matched word)
        idx = rng.integers(0, n, size=(resamples, n))
        diff = score_b(idx) - score_a(idx)
        diff = diff[np.isfinite(diff)]
        low, high = np.percentile(diff, [2.5, 97.5]) if len(diff) else (np.nan, np.nan)
        out.append(Difference(name, n, va, vb, float(low), float(high)))
    return out


def to_markdown(diffs: list[Difference], a_name: str, b_name: str) -> str:
    """A table: metric, examples, both values, their difference and its 95% interval."""
    lines = [
        f"Paired bootstrap: B = `{b_name}` against A = `{a_name}` (95% intervals of B − A)",
        "",
        "| metric | n | A | B | B − A | 95% interval | separable |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for d in diffs:
        k = _scale(d.metric)
        f = 3 if d.metric.endswith("cider_d") else 1  # CIDEr-D lives on a 0-10 scale
        lines.append(
            f"| {d.metric} | {d.count} | {d.a * k:.{f}f} | {d.b * k:.{f}f} | {d.difference * k:+.{f}f} | "
            f"[{d.low * k:+.{f}f}, {d.high * k:+.{f}f}] | {'yes' if d.separable else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _scale(metric: str) -> float:
    """Percent for rates and accuracies, as-is (ms, BLEU, CIDEr-D) otherwise."""
    kind = metric.split(":", 1)[1].split("/")[0]
    return 100.0 if kind in ("wer", "cer") or kind.endswith("accuracy") else 1.0


def to_dict(diffs: list[Difference]) -> list[dict[str, Any]]:
    """JSON-ready rows (the difference and whether it is separable included)."""
    return [asdict(d) | {"difference": d.difference, "separable": d.separable} for d in diffs]
