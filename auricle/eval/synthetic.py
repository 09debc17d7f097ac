"""Evaluate a model on a held-out split of the synthetic corpus, every task family with its own metric.

:func:`evaluate_manifest` reads a manifest (docs/manifest.md), runs the :class:`~auricle.api.AudioModel`
task method of each example's task in batches, and scores the outputs with :mod:`auricle.eval.metrics`.
What each task is scored with is listed in docs/evaluation.md.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from auricle.data.manifest import TASKS, Example, read_manifest
from auricle.data.synth.grammar import sentence_kind_of_key
from auricle.errors import AudioError, ConfigError
from auricle.eval.compare import open_samples
from auricle.eval.metrics import (
    TimedWord,
    accuracy,
    bleu,
    cider_d,
    edit_counts,
    normalize,
    word_shift_ms,
)

#: Tasks that are read but not scored, with the reason the report gives.
SKIPPED_TASKS: dict[str, str] = {}
#: Why chats are not scored for a model without a ``chat`` method.
NO_CHAT = "not scored: the model has no chat method"
#: Longest reply generated per assistant turn when scoring chats (the corpus's are a sentence or two).
CHAT_MAX_NEW_TOKENS = 96
#: Manifest task -> ``AudioModel.classify`` kind.
CLASSIFY_KINDS: dict[str, str] = {
    "scene": "scene",
    "event": "event",
    "vocal": "vocal_sound",
    "emotion": "emotion",
}
#: Languages scored per character (CER) rather than per word.
CHARACTER_LANGUAGES = ("zh", "zh_tr", "ja")


@dataclass
class Metric:
    """One score: ``name`` (``wer/en``, ``bleu/zh-en``, ``accuracy`` …), its value, and what it is over.

    ``value`` is None when the metric is undefined (e.g. no word matched for the boundary shift).
    ``count`` is the number of examples scored (for ``shift_ms``: the number of matched words).
    """

    name: str
    value: float | None
    count: int


@dataclass
class TaskResult:
    """The metrics of one task; ``skipped`` says why a task present in the manifest was not scored."""

    task: str
    count: int
    metrics: list[Metric] = field(default_factory=list)
    skipped: str | None = None

    def metric(self, name: str) -> Metric:
        """The metric called ``name`` (KeyError naming the ones there are)."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"task {self.task!r} has no metric {name!r}; it has {[m.name for m in self.metrics]}")


@dataclass
class Sample:
    """One scored example: what the model answered next to the reference (``auricle eval synthetic --samples``).

    ``scores`` holds, for each metric that is a ratio of sums over examples, this example's
    ``[numerator, denominator]``: ``wer/en`` → [edit errors, reference words], ``shift_ms/en`` →
    [summed word shift in ms, matched words], ``accuracy`` → [1 or 0, 1]. The report's value of such a
    metric is Σ numerators / Σ denominators, so a paired bootstrap can resample examples
    (:mod:`auricle.eval.compare`). Corpus-level metrics (BLEU, CIDEr-D) have no entry there.
    """

    task: str
    id: str
    audio: str
    language: str | None
    target_language: str | None
    reference: Any
    prediction: Any
    scores: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class EvalReport:
    """Per-task metrics of one evaluation run, in the order of :data:`~auricle.data.manifest.TASKS`.

    ``samples`` holds every scored example (:class:`Sample`), in scoring order; they are left out of
    :meth:`to_dict` and written on their own by :meth:`write_samples`.
    """

    manifest: str
    model: str | None
    tasks: dict[str, TaskResult]
    samples: list[Sample] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (undefined metric values are ``null``); the samples are not included."""
        return {"manifest": self.manifest, "model": self.model, "tasks": asdict(self)["tasks"]}

    def write_samples(self, path: str | Path) -> None:
        """Write the samples as JSON lines (one example per line), the input of ``auricle eval compare``;
        gzip-compressed when ``path`` ends in ``.gz``."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open_samples(out, "wt") as f:
            header = {"manifest": self.manifest, "model": self.model}
            f.write(json.dumps({"header": header}, ensure_ascii=False) + "\n")
            for s in self.samples:
                f.write(json.dumps(asdict(s), ensure_ascii=False) + "\n")

    def to_markdown(self) -> str:
        """A markdown table: one row per metric (one per skipped task)."""
        lines = [
            f"Evaluation of `{self.model or 'model'}` on `{self.manifest}`",
            "",
            "| task | examples | metric | value | n |",
            "|---|---:|---|---:|---:|",
        ]
        for t in self.tasks.values():
            if t.skipped:
                lines.append(f"| {t.task} | {t.count} | {t.skipped} | – | – |")
            for m in t.metrics:
                lines.append(f"| {t.task} | {t.count} | {m.name} | {_format(m)} | {m.count} |")
        return "\n".join(lines) + "\n"


def _format(m: Metric) -> str:
    if m.value is None or not math.isfinite(m.value):
        return "n/a"
    kind = m.name.split("/")[0]
    if kind in ("wer", "cer") or kind.endswith("accuracy"):
        return f"{100 * m.value:.1f}%"
    if kind == "cider_d":
        return f"{m.value:.3f}"
    if kind == "shift_ms":
        return f"{m.value:.1f} ms"
    return f"{m.value:.2f}"


# ------------------------------------------------------------------------------------------ reading
def load_examples(manifest: str | Path, *, limit_per_task: int | None = None) -> list[Example]:
    """The valid examples of ``manifest`` (the first ``limit_per_task`` of each task), audio checked.

    Raises ConfigError for a missing, empty or malformed manifest and AudioError when audio files
    are missing.
    """
    path = Path(manifest)
    if not path.is_file():
        raise ConfigError(
            f"manifest {str(path)!r} not found; pass a JSONL manifest such as corpus/test.jsonl"
        )
    if limit_per_task is not None and limit_per_task < 1:
        raise ConfigError(f"limit per task must be >= 1, got {limit_per_task}")
    examples: list[Example] = []
    seen: dict[str, int] = defaultdict(int)
    try:
        for ex in read_manifest(path):
            ex.validate()
            if limit_per_task is None or seen[ex.task] < limit_per_task:
                seen[ex.task] += 1
                examples.append(ex)
    except ValueError as e:  # json.JSONDecodeError is a ValueError too
        raise ConfigError(f"bad manifest {str(path)!r}: {e}") from e
    if not examples:
        raise ConfigError(f"manifest {str(path)!r} has no examples")
    missing = sorted({p for ex in examples for p in ex.audio if not resolve_audio_path(path, p).is_file()})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AudioError(
            f"{len(missing)} audio file(s) of {str(path)!r} not found: {shown}; audio paths are relative "
            "to the manifest's folder: keep the manifest next to its audio/ folder"
        )
    return examples


def resolve_audio_path(manifest: Path, audio: str) -> Path:
    """An audio path of a manifest line: a relative one is relative to the manifest's folder."""
    p = Path(audio)
    return p if p.is_absolute() else manifest.parent / p


# ------------------------------------------------------------------------------------------ running
class _Runner:
    """Calls model methods in chunks of ``batch_size`` while advancing one progress bar."""

    def __init__(
        self,
        model: Any,
        manifest: Path,
        batch_size: int,
        bar: tqdm,
        by_sentence_kind: bool,
        timestamp_window: int | None = None,
    ) -> None:
        self.model = model
        self.manifest = manifest
        self.batch_size = batch_size
        self.bar = bar
        self.by_sentence_kind = by_sentence_kind
        # only passed on when set, so that models without the option still work
        self.srwt_options = {} if timestamp_window is None else {"timestamp_window": timestamp_window}
        self.samples: list[Sample] = []

    def record(self, ex: Example, reference: Any, prediction: Any, scores: dict[str, list[float]]) -> None:
        """Keep one example's answer, reference and per-example metric shares (:class:`Sample`)."""
        self.samples.append(
            Sample(
                ex.task,
                ex.id,
                ex.audio[0],
                ex.language,
                ex.target_language,
                reference,
                prediction,
                dict(scores),
            )
        )

    def paths(self, examples: Sequence[Example]) -> list[str]:
        return [str(resolve_audio_path(self.manifest, ex.audio[0])) for ex in examples]

    def paths_of(self, ex: Example) -> list[str]:
        """Every audio of one example (a chat may have several)."""
        return [str(resolve_audio_path(self.manifest, a)) for a in ex.audio]

    def run(self, fn: Callable[..., list], items: Sequence, *extra: Sequence, **kwargs: Any) -> list:
        """``fn(chunk, *extra_chunks, batch_size=…, **kwargs)`` over chunks of ``items``; the joined outputs."""
        out: list = []
        for i in range(0, len(items), self.batch_size):
            chunk = list(items[i : i + self.batch_size])
            rest = [list(x[i : i + self.batch_size]) for x in extra]
            out.extend(fn(chunk, *rest, batch_size=self.batch_size, **kwargs))
            self.bar.update(len(chunk))
        return out


def _groups(examples: Sequence[Example], key: Callable[[Example], Any]) -> dict[Any, list[Example]]:
    groups: dict[Any, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[key(ex)].append(ex)
    return dict(sorted(groups.items(), key=lambda kv: str(kv[0])))


def _error_name(language: str | None) -> str:
    return f"{'cer' if language in CHARACTER_LANGUAGES else 'wer'}/{language or 'auto'}"


def _error_metrics(
    r: _Runner, lang: str | None, group: list[Example], texts: Sequence[str]
) -> tuple[list[Metric], list[dict[str, list[float]]]]:
    """WER (CER) of one language's transcripts and, when asked for, of each kind of sentence; and
    each transcript's shares of them ([errors, reference units] per metric, for its sample)."""
    name = _error_name(lang)
    shares = []
    for ex, text in zip(group, texts):
        share = [float(x) for x in edit_counts(ex.text, text, lang)]
        kind = sentence_kind_of_key(ex.meta.get("sentence_key")) if r.by_sentence_kind else None
        shares.append({name: share} | ({f"{name}/{kind}": share} if kind is not None else {}))
    metrics = []
    for metric in [name] + sorted({k for s in shares for k in s} - {name}):  # the language's, then its kinds
        parts = [s[metric] for s in shares if metric in s]
        errors, total = sum(p[0] for p in parts), sum(p[1] for p in parts)
        metrics.append(Metric(metric, errors / max(total, 1), len(parts)))
    return metrics, shares


def _shift_share(ref: list[TimedWord], hyp: list[TimedWord]) -> list[float]:
    """One utterance's [summed boundary shift in ms, matched words] (``pooled_word_shift_ms``'s parts)."""
    shift, n = word_shift_ms(ref, hyp)
    return [shift * n if n else 0.0, n]


def _pooled_shift(name: str, shares: Sequence[list[float]]) -> Metric:
    """The boundary shift over every matched word of the utterances (as ``pooled_word_shift_ms``):
    the mean, None when no word matched; its count is the number of matched words."""
    total, matched = sum(s[0] for s in shares), int(sum(s[1] for s in shares))
    return Metric(name, total / matched if matched else None, matched)


def _score_asr(r: _Runner, examples: list[Example]) -> list[Metric]:
    metrics = []
    for lang, group in _groups(examples, lambda ex: ex.language).items():
        hyps = r.run(r.model.transcribe, r.paths(group), language=lang)
        error_metrics, shares = _error_metrics(r, lang, group, [h.text for h in hyps])
        metrics += error_metrics
        for ex, h, share in zip(group, hyps, shares):
            r.record(ex, ex.text, h.text, share)
    return metrics


def _score_srwt(r: _Runner, examples: list[Example]) -> list[Metric]:
    metrics = []
    for lang, group in _groups(examples, lambda ex: ex.language).items():
        hyps = r.run(
            r.model.transcribe, r.paths(group), language=lang, word_timestamps=True, **r.srwt_options
        )
        error_metrics, shares = _error_metrics(r, lang, group, [h.text for h in hyps])
        metrics += error_metrics
        timed = [
            (
                [TimedWord(w.word, w.start, w.end) for w in ex.words],
                [TimedWord(w.word, w.start, w.end) for w in hyp.words],
            )
            for ex, hyp in zip(group, hyps)
        ]
        shift_name = f"shift_ms/{lang or 'auto'}"
        for ex, hyp, share, (ref_words, hyp_words) in zip(group, hyps, shares, timed):
            share[shift_name] = _shift_share(ref_words, hyp_words)
            prediction = {"text": hyp.text, "words": [[w.word, w.start, w.end] for w in hyp.words]}
            r.record(
                ex,
                {"text": ex.text, "words": [[w.word, w.start, w.end] for w in ex.words]},
                prediction,
                share,
            )
        metrics.append(_pooled_shift(shift_name, [share[shift_name] for share in shares]))
    return metrics


def _score_lid(r: _Runner, examples: list[Example]) -> list[Metric]:
    hyps = r.run(r.model.detect_language, r.paths(examples))
    return [_record_matches(r, examples, [ex.language for ex in examples], [h.language for h in hyps])]


def _match_share(ref: str, out: str) -> list[float]:
    """One answer's ``accuracy`` share: [1 or 0, 1], as :func:`accuracy` counts it."""
    return [float(accuracy([ref], [out])), 1.0]


def _record_matches(
    r: _Runner, examples: Sequence[Example], refs: Sequence[str], outs: Sequence[str]
) -> Metric:
    """Record exact-match examples (their ``accuracy`` shares) and return their accuracy."""
    for ex, ref, out in zip(examples, refs, outs):
        r.record(ex, ref, out, {"accuracy": _match_share(ref, out)})
    return Metric("accuracy", accuracy(refs, outs), len(outs))


def _score_s2tt(r: _Runner, examples: list[Example]) -> list[Metric]:
    metrics = []
    for (src, tgt), group in _groups(examples, lambda ex: (ex.language, ex.target_language)).items():
        hyps = r.run(r.model.translate, r.paths(group), to=tgt, language=src)
        score = bleu([ex.text for ex in group], [h.text for h in hyps], tgt)
        for ex, h in zip(group, hyps):
            r.record(ex, ex.text, h.text, {})
        metrics.append(Metric(f"bleu/{src or 'auto'}-{tgt}", score, len(group)))
    return metrics


def _references_by_audio(r: _Runner, examples: list[Example]) -> dict[str, list[Example]]:
    """Examples sharing an audio file: their texts are all references of the one caption."""
    by_audio: dict[str, list[Example]] = defaultdict(list)
    for ex, path in zip(examples, r.paths(examples)):
        by_audio[path].append(ex)
    return by_audio


def _score_caption(r: _Runner, examples: list[Example]) -> list[Metric]:
    by_audio = _references_by_audio(r, examples)
    order: list[str] = []
    hyps: list[str] = []

    # the tag renderer's default style is clotho: an example without a style was trained with it;
    # speech is captioned with its spoken language named, as the training prompts name it
    def group_key(path: str) -> tuple[str, str, str | None]:
        first = by_audio[path][0]
        return first.caption_style or "clotho", first.target_language or "en", first.language

    groups = _groups(list(by_audio), group_key)
    for (style, lang, spoken), paths in groups.items():
        captions = r.run(r.model.caption, paths, style=style, language=lang, audio_language=spoken)
        hyps += [c.text for c in captions]
        order += paths
    return [_captions_metric(r, by_audio, order, hyps)]


def _score_music_caption(r: _Runner, examples: list[Example]) -> list[Metric]:
    by_audio = _references_by_audio(r, examples)
    paths = list(by_audio)
    hyps = [c.text for c in r.run(r.model.describe_music, paths)]
    return [_captions_metric(r, by_audio, paths, hyps)]


def _captions_metric(
    r: _Runner, by_audio: dict[str, list[Example]], paths: list[str], hyps: list[str]
) -> Metric:
    """CIDEr-D of one caption per audio against all its examples' texts; one sample per audio."""
    refs = [[ex.text for ex in by_audio[p]] for p in paths]
    for p, group_refs, hyp in zip(paths, refs, hyps):
        r.record(by_audio[p][0], group_refs, hyp, {})
    return Metric("cider_d", cider_d(refs, hyps), len(hyps))


def _score_classify(r: _Runner, examples: list[Example]) -> list[Metric]:
    hyps = r.run(r.model.classify, r.paths(examples), kind=CLASSIFY_KINDS[examples[0].task])
    refs = [normalize(ex.label) for ex in examples]
    outs = [normalize(h.label) for h in hyps]
    if examples[0].task != "event":
        return [_record_matches(r, examples, refs, outs)]
    # timed events: boundary shift of the events matched by label
    timed = [
        (
            [TimedWord(e.label, e.start, e.end) for e in ex.events or []],
            [TimedWord(e.label, e.start, e.end) for e in hyp.events],
        )
        for ex, hyp in zip(examples, hyps)
    ]
    shifts = [_shift_share(ref_events, hyp_events) for ref_events, hyp_events in timed]
    for ex, ref, out, shift in zip(examples, refs, outs, shifts):
        r.record(ex, ref, out, {"accuracy": _match_share(ref, out), "shift_ms": shift})
    return [Metric("accuracy", accuracy(refs, outs), len(outs)), _pooled_shift("shift_ms", shifts)]


def _score_aqa(r: _Runner, examples: list[Example]) -> list[Metric]:
    hyps = r.run(r.model.ask, r.paths(examples), [ex.question for ex in examples])
    refs = [normalize(ex.text) for ex in examples]
    return [_record_matches(r, examples, refs, [normalize(h.text) for h in hyps])]


def _score_note(r: _Runner, examples: list[Example]) -> list[Metric]:
    hyps = r.run(r.model.analyze_music, r.paths(examples))

    def as_text(v: Any) -> str | None:
        return None if v is None else normalize(str(v))

    fields: dict[str, Callable[[Any], Any]] = {
        "pitch": lambda v: v,
        "instrument": as_text,
        "velocity": lambda v: v,
    }
    hits = {
        f: [norm(ex.note.get(f)) == norm(getattr(h, f)) for ex, h in zip(examples, hyps)]
        for f, norm in fields.items()
    }
    for i, (ex, h) in enumerate(zip(examples, hyps)):
        shares = {f"{f}_accuracy": [float(hits[f][i]), 1.0] for f in fields}
        r.record(ex, dict(ex.note), {f: getattr(h, f) for f in fields}, shares)
    return [Metric(f"{f}_accuracy", sum(hits[f]) / len(hyps), len(hyps)) for f in fields]


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(item["text"] for item in content or [] if item.get("type") == "text")


def _score_chat(r: _Runner, examples: list[Example]) -> list[Metric]:
    """Each assistant turn, generated greedily after the reference conversation up to it (so one
    wrong reply does not change the next turn's context), against the reference reply: pooled word
    error rate (``wer``; characters for CJK text) and exact-match ``accuracy`` after normalisation."""
    limit = getattr(r.model, "max_new_tokens", None) or CHAT_MAX_NEW_TOKENS  # a user's cap wins
    totals = {"wer": [0.0, 0.0], "accuracy": [0.0, 0.0]}
    for ex in examples:
        audios = [r.model.load_audio(path) for path in r.paths_of(ex)]
        session = r.model.chat()
        session.generation = replace(session.generation, do_sample=False, max_new_tokens=limit)
        messages = ex.messages or []
        refs, outs = [], []
        for j, message in enumerate(messages):
            if message["role"] == "assistant" and j > 0:
                session.load_history(messages[:j], audios)
                refs.append(_text_of(message))
                outs.append(session.respond().text)
        units = [edit_counts(ref, out) for ref, out in zip(refs, outs)]
        share = {
            "wer": [float(sum(u[0] for u in units)), float(sum(u[1] for u in units))],
            "accuracy": [
                float(sum(normalize(a) == normalize(b) for a, b in zip(refs, outs))),
                float(len(refs)),
            ],
        }
        for name, (hits, total) in share.items():
            totals[name][0] += hits
            totals[name][1] += total
        r.record(ex, refs, outs, share)
        r.bar.update(1)
    turns = int(totals["accuracy"][1])
    return [Metric(name, hits / max(total, 1.0), turns) for name, (hits, total) in totals.items()]


_SCORERS: dict[str, Callable[[_Runner, list[Example]], list[Metric]]] = {
    "asr": _score_asr,
    "srwt": _score_srwt,
    "lid": _score_lid,
    "s2tt": _score_s2tt,
    "caption": _score_caption,
    "music_caption": _score_music_caption,
    "scene": _score_classify,
    "event": _score_classify,
    "vocal": _score_classify,
    "emotion": _score_classify,
    "aqa": _score_aqa,
    "note_analysis": _score_note,
    "chat": _score_chat,
}


def evaluate_manifest(
    model: Any,
    manifest: str | Path,
    *,
    limit_per_task: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    by_sentence_kind: bool = False,
    timestamp_window: int | None = None,
) -> EvalReport:
    """Run ``model`` (an :class:`~auricle.api.AudioModel`) on every example of ``manifest`` and score it.

    Args:
        model: the model; anything with the ``AudioModel`` task methods works.
        manifest: a JSONL manifest (e.g. the ``test.jsonl`` of a synthetic corpus); audio paths are
            relative to its folder.
        limit_per_task: score only the first N examples of each task (manifest order).
        batch_size: how many audios go to the model per call.
        progress: show a progress bar on stderr.
        by_sentence_kind: also score the transcripts (``asr``, ``srwt``) of each kind of synthetic
            sentence on its own: ``wer/en/parallel``, ``wer/en/carrier``, ``wer/en/list`` …
            (the prefix of each example's ``meta.sentence_key``).
        timestamp_window: the word-timestamp refinement window (centiseconds) for ``srwt``
            (``AudioModel.transcribe``'s ``timestamp_window``); ``None``: the model's default.

    Returns:
        An :class:`EvalReport` with one :class:`TaskResult` per task in the manifest (``chat`` is
        listed as skipped) and every scored example as a :class:`Sample`.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if timestamp_window is not None and timestamp_window < 0:
        raise ConfigError(f"timestamp_window must be >= 0 (0 = off), got {timestamp_window}")
    path = Path(manifest)
    examples = load_examples(path, limit_per_task=limit_per_task)
    by_task = _groups(examples, lambda ex: ex.task)
    skipped = dict(SKIPPED_TASKS) | ({} if callable(getattr(model, "chat", None)) else {"chat": NO_CHAT})
    scored = sum(len(v) for k, v in by_task.items() if k in _SCORERS and k not in skipped)
    results: dict[str, TaskResult] = {}
    with tqdm(total=scored, desc="evaluating", unit="ex", disable=not progress, file=sys.stderr) as bar:
        runner = _Runner(model, path, batch_size, bar, by_sentence_kind, timestamp_window)
        done = 0
        for task in TASKS:
            if task not in by_task:
                continue
            group = by_task[task]
            if task in skipped:
                results[task] = TaskResult(task, len(group), skipped=skipped[task])
                continue
            bar.set_postfix_str(task)
            results[task] = TaskResult(task, len(group), _SCORERS[task](runner, group))
            done += len(group)
            bar.update(done - bar.n)  # captions run once per audio: catch up to the example count
    return EvalReport(str(path), getattr(model, "name", None), results, runner.samples)
