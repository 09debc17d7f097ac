"""Corpus orchestration: plan clips, make them in parallel, write FLAC files, manifests and a README.

Determinism: clip ``i`` draws everything from ``numpy.random.default_rng([seed, i])``. Clips are
made in fixed chunks of ``chunk_size`` consecutive indices, each chunk in a freshly forked child
of a worker that never synthesises itself (see backends.py for why), and results are consumed in
index order, so the output is byte-identical for any ``--jobs``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from auricle.data.manifest import TASKS, Example, write_manifest
from auricle.data.synth import backends, dsp
from auricle.data.synth.augment import augment
from auricle.data.synth.clips import ALLOWED_AUGMENT, MAKERS, Settings
from auricle.data.synth.forking import run_forked
from auricle.data.synth.grammar import LANGUAGES, SENTENCE_KINDS, sentence_kind_of_key
from auricle.data.synth.readme import write_readme
from auricle.data.synth.tasks import KIND_TASKS, chat_example, clip_examples
from auricle.data.synth.vocab import vocabulary
from auricle.errors import ConfigError

KIND_WEIGHTS = {"speech": 0.5, "event": 0.1, "scene": 0.08, "note": 0.14, "music": 0.08, "song": 0.1}
CHAT_PROB = 0.35  # share of clips that also get a chat example
TWO_AUDIO_PROB = 0.35  # share of chats about two clips
SPEECH_KINDS = ("speech", "song")


@dataclass
class SynthConfig:
    """Everything that defines a synthetic corpus (the output is a function of these fields)."""

    out: Path
    hours: float = 1.0
    seed: int = 0
    tasks: tuple[str, ...] = tuple(TASKS)
    languages: tuple[str, ...] = LANGUAGES
    jobs: int = 1
    augment_prob: float = 0.5
    valid_frac: float = 0.05
    test_frac: float = 0.05
    chunk_size: int = 2  # clips per forked child; part of the definition of the output
    max_clips: int | None = None  # stop after this many clips even before ``hours``
    backends: tuple[str, ...] = ("espeak", "festival", "flite")
    sentence_mix: dict[str, float] | None = None  # spoken sentence kinds -> weight; None = default
    progress: bool = True
    command: str = ""  # how it was invoked, for the README

    def check(self) -> None:
        """Raise :class:`ConfigError` for invalid settings."""
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise ConfigError(f"unknown task(s) {bad or '(none given)'}; valid: {', '.join(TASKS)}")
        bad = [lang for lang in self.languages if lang not in LANGUAGES]
        if bad or not self.languages:
            raise ConfigError(
                f"unsupported language(s) {bad or '(none given)'}; valid: {', '.join(LANGUAGES)}"
            )
        if not self.hours > 0 and not self.max_clips:
            raise ConfigError(f"--hours must be > 0, got {self.hours}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {self.jobs}")
        if not 0 <= self.augment_prob <= 1:
            raise ConfigError(f"--augment-prob must be in [0, 1], got {self.augment_prob}")
        if not (0 <= self.valid_frac and 0 <= self.test_frac and self.valid_frac + self.test_frac < 1):
            raise ConfigError(
                f"valid/test fractions {self.valid_frac}/{self.test_frac} must be >= 0 and sum < 1"
            )
        if self.sentence_mix is not None:
            self._check_sentence_mix(self.sentence_mix)

    def _check_sentence_mix(self, mix: dict[str, float]) -> None:
        bad = [kind for kind in mix if kind not in SENTENCE_KINDS]
        if bad:
            raise ConfigError(
                f"unknown sentence kind(s) {bad} in --sentence-mix; valid: {', '.join(SENTENCE_KINDS)}"
            )
        if any(not w >= 0 for w in mix.values()) or not any(w > 0 for w in mix.values()):
            raise ConfigError(f"--sentence-mix weights must be >= 0 with one > 0, got {mix}")
        if "s2tt" in self.tasks and not mix.get("parallel", 0) > 0:
            raise ConfigError(
                "s2tt needs parallel sentences (only they have translations): give parallel a weight "
                "in --sentence-mix or leave s2tt out of --tasks"
            )


@dataclass
class ClipResult:
    """One finished clip: its FLAC bytes, examples and facts (for chats)."""

    index: int
    clip_id: str
    split: str
    path: str
    flac: bytes
    duration: float
    examples: list[Example]
    facts: dict[str, Any]


@dataclass
class CorpusSummary:
    """What was written."""

    out: Path
    clips: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per split
    examples: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task -> count
    kinds: dict[str, int] = field(default_factory=dict)
    languages: dict[str, float] = field(default_factory=dict)  # seconds of speech/song per language
    voices: dict[str, int] = field(default_factory=dict)  # clips per backend
    sentences: dict[str, int] = field(default_factory=dict)  # speech clips per kind of sentence


def enabled_kinds(config: SynthConfig) -> dict[str, float]:
    """Clip kinds (with weights) that produce at least one requested task."""
    wanted = set(config.tasks)
    if wanted != {"chat"}:
        wanted.discard("chat")  # chats ride along with the clips that the other tasks need
    return {k: w for k, w in KIND_WEIGHTS.items() if wanted & set(KIND_TASKS[k])}


def _scale_times(facts: dict[str, Any], scale: float) -> None:
    if scale == 1.0:
        return
    for key in ("words", "events"):
        if key in facts:
            facts[key] = [(x, round(s * scale, 5), round(e * scale, 5)) for x, s, e in facts[key]]
    if "melody" in facts:
        facts["melody"] = [[p, round(s * scale, 5), round(e * scale, 5)] for p, s, e in facts["melody"]]
    if "speed" in facts:  # speaking rate after a speed perturbation (answers "fast or slow?")
        facts["speed"] = round(facts["speed"] / scale, 3)


class _Job:
    """The per-process state of a generation run (settings, enabled kinds)."""

    def __init__(self, config: SynthConfig, settings: Settings, kinds: dict[str, float]):
        self.config, self.settings = config, settings
        self.kind_names = sorted(kinds)
        weights = np.array([kinds[k] for k in self.kind_names], dtype=np.float64)
        self.kind_p = weights / weights.sum()

    def make_clip(self, index: int) -> ClipResult:
        """Clip ``index``: kind, split, clean audio, augmentation, FLAC bytes and examples."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, index])
        kind = self.kind_names[int(rng.choice(len(self.kind_names), p=self.kind_p))]
        r = rng.random()
        split = "test" if r < cfg.test_frac else "valid" if r < cfg.test_frac + cfg.valid_frac else "train"
        clean = MAKERS[kind](rng, split, self.settings)
        audio, scale, steps = clean.audio, 1.0, []
        if rng.random() < cfg.augment_prob:
            audio, scale, steps = augment(audio, rng, ALLOWED_AUGMENT[kind])
        facts = clean.facts | {"augment": steps}
        _scale_times(facts, scale)
        clip_id = f"{kind}-{index:07d}"
        path = f"audio/{index // 1000:04d}/{clip_id}.flac"
        duration = round(len(audio) / dsp.SAMPLE_RATE, 4)
        meta = {
            "clip": clip_id,
            "kind": kind,
            "seed": cfg.seed,
            **clean.meta,
            "augment": steps,
            "clean": not steps,
        }
        examples = clip_examples(clip_id, path, duration, split, facts, meta, frozenset(cfg.tasks), rng)
        return ClipResult(index, clip_id, split, path, dsp.flac_bytes(audio), duration, examples, facts)

    def chunk(self, number: int) -> list[ClipResult]:
        """Clips ``number * chunk_size`` ... in a fresh forked child (reproducible synthesiser state)."""
        size = self.config.chunk_size
        if self.settings.installed.get("festival"):
            backends.get_backend("festival").start()  # restarts it if a child saw it crash

        def work() -> list[ClipResult]:
            backends.mark_forked_child()
            backends.reset_random_state()
            return [self.make_clip(i) for i in range(number * size, (number + 1) * size)]

        return run_forked(work)


_JOB: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _JOB
    _JOB = job
    if job.settings.installed.get("festival"):
        backends.get_backend("festival").start()


def _run_chunk(number: int) -> list[ClipResult]:
    return _JOB.chunk(number)


def _prepare(config: SynthConfig, kinds: dict[str, float]) -> Settings:
    installed = {name: False for name in ("espeak", "festival", "flite")}
    if any(k in kinds for k in SPEECH_KINDS):
        have = backends.available_backends()
        installed = {name: have[name] and name in config.backends for name in have}
        backends.require_backends(["espeak"])
        for name in ("festival", "flite"):
            if name in config.backends and not have[name]:
                print(
                    f"auricle: {name} is not installed, its voices are skipped; install: {backends.INSTALL_HINTS[name]}"
                )
        for lang in config.languages:
            vocabulary(lang)  # computed once here, inherited by every worker
    language_weights = {lang: (3.0 if lang == "en" else 1.0) for lang in config.languages}
    translate = "s2tt" in config.tasks or "chat" in config.tasks
    return Settings(
        config.languages,
        installed,
        config.valid_frac,
        config.test_frac,
        translate,
        language_weights=language_weights,
        sentence_mix=config.sentence_mix,
    )


def _clip_stream(config: SynthConfig, job: _Job):
    """Clip results in index order, computed ``jobs`` chunks at a time."""
    if config.jobs == 1:
        _start_worker(job)
        number = 0
        while True:
            yield from job.chunk(number)
            number += 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(config.jobs, initializer=_start_worker, initargs=(job,)) as pool:
        pending: deque = deque()
        number = 0
        while True:
            while len(pending) < 2 * config.jobs:
                pending.append(pool.apply_async(_run_chunk, (number,)))
                number += 1
            yield from pending.popleft().get()


def _clear_output(out: Path) -> None:
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "README.md"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "audio", ignore_errors=True)


def generate_corpus(config: SynthConfig) -> CorpusSummary:
    """Generate the corpus described by ``config`` into ``config.out``; returns counts."""
    config.check()
    if not hasattr(os, "fork"):
        raise ConfigError(
            "the synthetic corpus generator needs os.fork (Linux); run it on Linux or in a container"
        )
    kinds = enabled_kinds(config)
    if not kinds:
        raise ConfigError(f"no clip kind produces the tasks {list(config.tasks)}")
    pairs = "en" in config.languages and any(
        lang in config.languages for lang in ("zh", "de", "fr", "es", "it")
    )
    if set(config.tasks) == {"s2tt"} and not pairs:
        raise ConfigError(
            f"s2tt needs English and one of zh, de, fr, es, it in --languages; got {','.join(config.languages)}"
        )
    settings = _prepare(config, kinds)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _clear_output(out)
    scratch = out / ".synth-scratch"  # Festival's wave files; removed at the end
    scratch.mkdir(exist_ok=True)
    backends.set_work_dir(scratch)
    job = _Job(config, settings, kinds)
    target = config.hours * 3600
    summary = CorpusSummary(out)
    manifests: dict[str, list[Example]] = {"train": [], "valid": [], "test": []}
    last_of_split: dict[str, ClipResult] = {}
    tqdm.monitor_interval = 0  # no monitor thread: the generator forks
    stream = _clip_stream(config, job)
    bar = tqdm(total=round(target), unit="s", desc="synth", disable=not config.progress)
    try:
        for clip in stream:
            _write_clip(out, clip, summary)
            manifests[clip.split].extend(clip.examples)
            _add_chat(config, clip, last_of_split.get(clip.split), manifests[clip.split])
            last_of_split[clip.split] = clip
            bar.update(round(clip.duration))
            total = sum(summary.seconds.values())
            if total >= target or (config.max_clips and summary.clips >= config.max_clips):
                break
    finally:
        stream.close()
        bar.close()
        if config.jobs == 1:
            backends.get_backend("festival").close()
        backends.set_work_dir(None)
        shutil.rmtree(scratch, ignore_errors=True)
    for split, examples in manifests.items():
        write_manifest(out / f"{split}.jsonl", examples)
        summary.examples[split] = {}
        for ex in examples:
            summary.examples[split][ex.task] = summary.examples[split].get(ex.task, 0) + 1
    write_readme(out, config, summary)
    return summary


def _write_clip(out: Path, clip: ClipResult, summary: CorpusSummary) -> None:
    path = out / clip.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(clip.flac)
    summary.clips += 1
    summary.seconds[clip.split] = summary.seconds.get(clip.split, 0.0) + clip.duration
    kind = clip.facts["kind"]
    summary.kinds[kind] = summary.kinds.get(kind, 0) + 1
    if "language" in clip.facts:
        lang = clip.facts["language"]
        summary.languages[lang] = summary.languages.get(lang, 0.0) + clip.duration
    meta = clip.examples[0].meta if clip.examples else {}
    if meta.get("backend"):
        summary.voices[meta["backend"]] = summary.voices.get(meta["backend"], 0) + 1
    sentence = sentence_kind_of_key(meta.get("sentence_key"))
    if kind == "speech" and sentence:
        summary.sentences[sentence] = summary.sentences.get(sentence, 0) + 1


def _add_chat(
    config: SynthConfig, clip: ClipResult, previous: ClipResult | None, examples: list[Example]
) -> None:
    if "chat" not in config.tasks:
        return
    rng = np.random.default_rng([config.seed, clip.index, 7])
    if rng.random() >= CHAT_PROB:
        return
    items = [(clip.path, clip.duration, clip.facts)]
    if previous is not None and rng.random() < TWO_AUDIO_PROB:
        items = [(previous.path, previous.duration, previous.facts), *items]
    examples.append(chat_example(f"{clip.clip_id}-chat", items, clip.split, rng))
