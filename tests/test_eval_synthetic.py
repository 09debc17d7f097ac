"""`auricle eval synthetic`: metric wiring with a scripted model, and the plumbing end to end."""

from __future__ import annotations

import argparse
import gzip
import json
import math
from pathlib import Path

import pytest

from auricle import api
from auricle.data.manifest import Event, Example, Word, read_manifest, write_manifest
from auricle.demo import EXAMPLES_DIR, build_random_checkpoint
from auricle.errors import AudioError, ConfigError
from auricle.eval.cli import register
from auricle.eval.compare import compare_samples, read_samples
from auricle.eval.metrics import bleu
from auricle.eval.synthetic import NO_CHAT, SKIPPED_TASKS, evaluate_manifest, load_examples
from auricle.prompt import Audio, Rendered, example_prompt, render_chat
from auricle.tasks.engine import ModelEngine
from auricle.tasks.results import (
    Answer,
    Caption,
    Classification,
    LanguageDetection,
    NoteAnalysis,
    Segment,
    Transcription,
)
from auricle.tasks.results import Event as ResultEvent
from auricle.tasks.results import Word as ResultWord


class ScriptedModel:
    """Answers every task with the manifest's reference, except for the examples named in ``wrong``."""

    name = "scripted"

    def __init__(self, manifest: Path, wrong: dict[str, object] | None = None) -> None:
        self.folder = manifest.parent
        self.examples = list(read_manifest(manifest))
        self.wrong = wrong or {}
        self.batch_sizes: list[int] = []
        self.transcribe_options: list[tuple[bool, dict]] = []

    def _find(self, path: str, task: str, **fields) -> Example:
        rel = str(Path(path).relative_to(self.folder))
        for ex in self.examples:
            if ex.audio[0] == rel and ex.task == task and all(getattr(ex, k) == v for k, v in fields.items()):
                return ex
        raise AssertionError(f"no {task} example for {rel} {fields}")

    def _answer(self, ex: Example, right):
        return self.wrong.get(ex.id, right)

    def _log(self, items: list) -> list:
        self.batch_sizes.append(len(items))
        return items

    def transcribe(self, audios, *, language=None, word_timestamps=False, batch_size=None, **options):
        self.transcribe_options.append((word_timestamps, options))
        out = []
        for a in self._log(audios):
            ex = self._find(a, "srwt" if word_timestamps else "asr", language=language)
            text = self._answer(ex, ex.text)
            words = None
            if word_timestamps:
                words = self.wrong.get(ex.id + ":words") or [
                    ResultWord(w.word, w.start, w.end) for w in ex.words
                ]
            out.append(
                Transcription(text, language, [Segment(0, 0.0, ex.duration, text, words)], ex.duration)
            )
        return out

    def translate(self, audios, *, to="en", language=None, batch_size=None):
        out = []
        for a in self._log(audios):
            ex = self._find(a, "s2tt", target_language=to)
            out.append(Transcription(self._answer(ex, ex.text), language, [], ex.duration, "translate", to))
        return out

    def detect_language(self, audios, *, batch_size=None):
        exs = [self._find(a, "lid") for a in self._log(audios)]
        return [LanguageDetection(self._answer(ex, ex.language), {}) for ex in exs]

    def caption(self, audios, *, language="en", style="clotho", audio_language=None, batch_size=None):
        exs = [self._find(a, "caption") for a in self._log(audios)]
        # the harness names the spoken language of speech, as the training prompts do
        assert all(ex.language == audio_language for ex in exs)
        return [Caption(self._answer(ex, ex.text)) for ex in exs]

    def describe_music(self, audios, *, batch_size=None):
        exs = [self._find(a, "music_caption") for a in self._log(audios)]
        return [Caption(self._answer(ex, ex.text)) for ex in exs]

    def classify(self, audios, kind="scene", *, batch_size=None):
        task = {"vocal_sound": "vocal"}.get(kind, kind)
        exs = [self._find(a, task) for a in self._log(audios)]
        out = []
        for ex in exs:
            events = self.wrong.get(ex.id + ":events") or [
                ResultEvent(e.label, e.start, e.end) for e in ex.events or []
            ]
            out.append(Classification(kind, self._answer(ex, ex.label.upper() + "."), 0.9, events=events))
        return out

    def ask(self, audios, questions, *, batch_size=None):
        exs = [self._find(a, "aqa", question=q) for a, q in zip(self._log(audios), questions)]
        return [Answer(ex.question, self._answer(ex, ex.text)) for ex in exs]

    def analyze_music(self, audios, *, batch_size=None):
        out = []
        for a in self._log(audios):
            ex = self._find(a, "note_analysis")
            n = ex.note
            right = NoteAnalysis(n["pitch"], n["velocity"], n["instrument"].title(), [], "")
            out.append(self._answer(ex, right))
        return out


def _manifest(folder: Path) -> Path:
    """A hand-written manifest: two examples per scored task, and one chat."""

    def ex(i: str, task: str, clip: str, **kw) -> Example:
        (folder / clip).touch()
        return Example(id=i, task=task, audio=[clip], duration=2.0, split="test", **kw)

    words = [Word("the", 0.1, 0.3), Word("cat", 0.4, 0.7), Word("sat", 0.8, 1.0)]
    examples = [
        ex(
            "a1",
            "asr",
            "s1.flac",
            language="en",
            text="The cat sat.",
            meta={"sentence_key": "carrier|en|0|cat"},
        ),
        ex(
            "a2",
            "asr",
            "s2.flac",
            language="en",
            text="a dog ran far away",
            meta={"sentence_key": "list|en|dog"},
        ),
        ex("a3", "asr", "s3.flac", language="zh", text="公园里有帽子"),
        ex("w1", "srwt", "s1.flac", language="en", text="The cat sat.", words=words),
        ex(
            "w2",
            "srwt",
            "s2.flac",
            language="en",
            text="a dog",
            words=[Word("a", 0, 0.2), Word("dog", 0.3, 0.6)],
        ),
        ex("l1", "lid", "s1.flac", language="en"),
        ex("l2", "lid", "s3.flac", language="zh"),
        ex("t1", "s2tt", "s1.flac", language="en", target_language="de", text="Die Katze sass."),
        ex("t2", "s2tt", "s3.flac", language="zh", target_language="en", text="There are hats in the park."),
        ex("c1", "caption", "e1.flac", text="A dog barks twice.", caption_style="plain"),
        ex("c2", "caption", "e1.flac", text="Two barks of a dog.", caption_style="plain"),
        ex("c3", "caption", "e2.flac", text="Rain falls on a roof.", caption_style="plain"),
        ex("c4", "caption", "s3.flac", language="zh", text="A man speaks Chinese.", caption_style="plain"),
        ex("m1", "music_caption", "n1.flac", text="A single bright string note."),
        ex("m2", "music_caption", "n2.flac", text="A soft organ note."),
        ex("sc1", "scene", "e1.flac", label="kitchen"),
        ex("sc2", "scene", "e2.flac", label="street"),
        ex(
            "ev1",
            "event",
            "e1.flac",
            label="dog bark, alarm",
            events=[Event("dog bark", 0.2, 0.6), Event("alarm", 1.0, 1.8)],
        ),
        ex("ev2", "event", "e2.flac", label="rain", events=[Event("rain", 0.0, 2.0)]),
        ex("v1", "vocal", "s1.flac", label="laughter"),
        ex("v2", "vocal", "s2.flac", label="cough"),
        ex("em1", "emotion", "s1.flac", label="happy"),
        ex("em2", "emotion", "s2.flac", label="sad"),
        ex("q1", "aqa", "e1.flac", question="How many barks?", text="Two."),
        ex("q2", "aqa", "e1.flac", question="Is it raining?", text="no"),
        ex("n1", "note_analysis", "n1.flac", note={"pitch": 79, "velocity": 100, "instrument": "string"}),
        ex("n2", "note_analysis", "n2.flac", note={"pitch": 60, "velocity": 50, "instrument": "organ"}),
        ex(
            "ch1",
            "chat",
            "e1.flac",
            messages=[{"role": "user", "content": [{"type": "audio", "audio": 0}]}],
        ),
    ]
    path = folder / "test.jsonl"
    write_manifest(path, examples)
    return path


def _values(report) -> dict[str, float | None]:
    return {f"{t.task}:{m.name}": m.value for t in report.tasks.values() for m in t.metrics}


def test_scripted_references_score_perfectly(tmp_path):
    path = _manifest(tmp_path)
    model = ScriptedModel(path)
    report = evaluate_manifest(model, path, batch_size=1, progress=False)
    v = _values(report)
    assert set(report.tasks) == {ex.task for ex in read_manifest(path)}
    assert report.tasks["chat"].skipped == NO_CHAT and not report.tasks["chat"].metrics  # no chat method
    assert v["asr:wer/en"] == 0 and v["asr:cer/zh"] == 0 and v["srwt:wer/en"] == 0
    assert v["srwt:shift_ms/en"] == 0 and report.tasks["srwt"].metric("shift_ms/en").count == 5
    assert v["event:shift_ms"] == 0 and report.tasks["event"].metric("shift_ms").count == 3
    assert v["s2tt:bleu/en-de"] == pytest.approx(100) and v["s2tt:bleu/zh-en"] == pytest.approx(100)
    for key in ("lid:accuracy", "scene:accuracy", "event:accuracy", "vocal:accuracy", "emotion:accuracy"):
        assert v[key] == 1.0, key
    assert v["aqa:accuracy"] == 1.0
    assert v["note_analysis:pitch_accuracy"] == v["note_analysis:instrument_accuracy"] == 1.0
    assert v["note_analysis:velocity_accuracy"] == 1.0
    assert v["caption:cider_d"] > 0 and v["music_caption:cider_d"] > 0
    # e1.flac has two caption examples: it is captioned once, with both texts as references
    assert report.tasks["caption"].count == 4 and report.tasks["caption"].metric("cider_d").count == 3
    assert max(model.batch_sizes) == 1


def test_one_wrong_output_gives_the_expected_drop(tmp_path):
    path = _manifest(tmp_path)
    perfect = _values(evaluate_manifest(ScriptedModel(path), path, progress=False))
    shifted = [ResultWord("the", 0.2, 0.4), ResultWord("cat", 0.4, 0.7), ResultWord("sat", 0.8, 1.0)]
    wrong = {
        "a2": "a dog ran far",  # 1 deletion over 3 + 5 reference words
        "a3": "公园里有帽",  # 1 of 6 characters
        "w1:words": shifted,  # one word off by 100 ms at both ends, of 5 matched words
        "ev1:events": [ResultEvent("dog bark", 0.2, 0.9)],  # alarm missed; 300 ms at one end of 2
        "l2": "en",
        "sc1": "street",
        "v2": "laughter",
        "q2": "yes",
        "n2": NoteAnalysis(61, 50, "organ", [], ""),
        "c3": "a cat sleeps",
        "t2": "Hats.",
    }
    v = _values(evaluate_manifest(ScriptedModel(path, wrong), path, batch_size=2, progress=False))
    assert v["asr:wer/en"] == pytest.approx(1 / 8)
    assert v["asr:cer/zh"] == pytest.approx(1 / 6)
    assert v["srwt:shift_ms/en"] == pytest.approx(100 / 5)
    assert v["event:shift_ms"] == pytest.approx(150 / 2)
    assert v["srwt:wer/en"] == 0
    for key in (
        "lid:accuracy",
        "scene:accuracy",
        "vocal:accuracy",
        "aqa:accuracy",
        "note_analysis:pitch_accuracy",
    ):
        assert v[key] == 0.5, key
    assert v["event:accuracy"] == v["note_analysis:velocity_accuracy"] == 1.0
    assert v["caption:cider_d"] < perfect["caption:cider_d"]
    assert v["s2tt:bleu/zh-en"] < 100 and v["s2tt:bleu/en-de"] == pytest.approx(100)


def test_error_rates_per_sentence_kind_when_asked(tmp_path):
    path = _manifest(tmp_path)
    wrong = {"a2": "a dog ran far"}  # 1 deletion in the word list's 5 words
    plain = _values(evaluate_manifest(ScriptedModel(path, wrong), path, progress=False))
    assert not any(k.count("/") > 1 for k in plain)
    report = evaluate_manifest(ScriptedModel(path, wrong), path, progress=False, by_sentence_kind=True)
    v = _values(report)
    assert v["asr:wer/en"] == pytest.approx(1 / 8)
    assert v["asr:wer/en/list"] == pytest.approx(1 / 5) and v["asr:wer/en/carrier"] == 0
    assert report.tasks["asr"].metric("wer/en/carrier").count == 1
    assert "asr:cer/zh/list" not in v and "srwt:wer/en/list" not in v  # no sentence_key: no kind


def test_timestamp_window_is_passed_to_word_timestamp_calls_only(tmp_path):
    path = _manifest(tmp_path)
    model = ScriptedModel(path)
    evaluate_manifest(model, path, progress=False)
    assert all(options == {} for _, options in model.transcribe_options)  # the model's default
    model = ScriptedModel(path)
    evaluate_manifest(model, path, progress=False, timestamp_window=0)
    calls = model.transcribe_options
    assert any(srwt for srwt, _ in calls) and any(not srwt for srwt, _ in calls)
    assert all(options == ({"timestamp_window": 0} if srwt else {}) for srwt, options in calls)
    with pytest.raises(ConfigError, match="timestamp_window"):
        evaluate_manifest(ScriptedModel(path), path, progress=False, timestamp_window=-5)


def test_limit_per_task_and_markdown(tmp_path):
    path = _manifest(tmp_path)
    report = evaluate_manifest(ScriptedModel(path), path, limit_per_task=1, progress=False)
    assert all(t.count == 1 for t in report.tasks.values())
    md = report.to_markdown()
    assert "| asr | 1 | wer/en | 0.0% | 1 |" in md and "| chat | 1 | not scored" in md
    assert json.loads(json.dumps(report.to_dict()))["tasks"]["lid"]["metrics"][0]["value"] == 1.0


def test_bad_manifests_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        evaluate_manifest(object(), tmp_path / "nope.jsonl", progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "task": "asr", "audio": ["a.flac"]}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl.*needs field 'text'"):
        evaluate_manifest(object(), bad, progress=False)
    bad.write_text("")
    with pytest.raises(ConfigError, match="no examples"):
        evaluate_manifest(object(), bad, progress=False)
    path = _manifest(tmp_path)
    (tmp_path / "s2.flac").unlink()
    with pytest.raises(AudioError, match=r"1 audio file\(s\).*s2\.flac"):
        evaluate_manifest(object(), path, progress=False)


_WRONG = {
    "a2": "a dog ran far",
    "a3": "公园里有帽",
    "w1:words": [ResultWord("the", 0.2, 0.4), ResultWord("cat", 0.4, 0.7), ResultWord("sat", 0.8, 1.0)],
    "ev1:events": [ResultEvent("dog bark", 0.2, 0.9)],
    "l2": "en",
    "sc1": "street",
    "q2": "yes",
    "n2": NoteAnalysis(61, 50, "organ", [], ""),
    "c3": "a cat sleeps",
    "t2": "Hats.",
}


def _pooled_scores(samples: dict) -> dict[str, list[float]]:
    """``task:metric`` -> [Σ numerator, Σ denominator] over the samples' score shares."""
    sums: dict[str, list[float]] = {}
    for s in samples.values():
        for name, (num, den) in s["scores"].items():
            acc = sums.setdefault(f"{s['task']}:{name}", [0.0, 0.0])
            acc[0] += num
            acc[1] += den
    return sums


def test_samples_add_up_to_the_report(tmp_path):
    path = _manifest(tmp_path)
    report = evaluate_manifest(ScriptedModel(path, _WRONG), path, progress=False, by_sentence_kind=True)
    out = tmp_path / "samples.jsonl"
    report.write_samples(out)
    header, samples = read_samples(out)
    assert header == {"manifest": str(path), "model": "scripted"}
    assert "samples" not in report.to_dict()
    # one sample per scored example, one per audio for the captions
    scored = [ex for ex in read_manifest(path) if ex.task != "chat"]
    assert len(samples) == len(scored) - 1  # e1.flac's two caption examples are one caption
    sums = _pooled_scores(samples)
    values = _values(report)
    ratios = {k: num / den for k, (num, den) in sums.items()}
    for key, value in values.items():
        if key.split(":")[1].startswith(("bleu", "cider_d")):
            assert key not in ratios
            continue
        assert ratios[key] == pytest.approx(value), key
    assert ratios["asr:wer/en"] == pytest.approx(1 / 8) and ratios["asr:wer/en/list"] == pytest.approx(1 / 5)
    assert samples[("asr", "a2")]["prediction"] == "a dog ran far"
    assert samples[("asr", "a2")]["scores"]["wer/en"] == [1, 5]
    assert samples[("srwt", "w1")]["scores"]["shift_ms/en"] == pytest.approx(
        [100, 3]
    )  # one word off by 100 ms at both ends
    assert samples[("caption", "c1")]["reference"] == ["A dog barks twice.", "Two barks of a dog."]
    assert samples[("s2tt", "t2")]["target_language"] == "en"
    assert samples[("note_analysis", "n2")]["prediction"] == {
        "pitch": 61,
        "instrument": "organ",
        "velocity": 50,
    }


def _samples(tmp_path: Path, name: str, wrong: dict | None) -> Path:
    path = _manifest(tmp_path)
    out = tmp_path / f"{name}.jsonl"
    evaluate_manifest(ScriptedModel(path, wrong), path, progress=False).write_samples(out)
    return out


def test_compare_pairs_examples_and_bounds_the_difference(tmp_path):
    perfect = _samples(tmp_path, "perfect", None)
    worse = _samples(tmp_path, "worse", _WRONG)
    same = {d.metric: d for d in compare_samples(perfect, perfect, resamples=200)}
    assert all(d.difference == 0 and d.low == d.high == 0 and not d.separable for d in same.values())
    diffs = {d.metric: d for d in compare_samples(perfect, worse, resamples=500, seed=3)}
    wer = diffs["asr:wer/en"]
    assert (wer.a, wer.b, wer.count) == (0.0, pytest.approx(1 / 8), 2)
    assert wer.low >= 0 and wer.high <= 1 / 5 + 1e-9  # a resample holds only a1 (0) or a2 (1/5) errors
    lid = diffs["lid:accuracy"]
    assert lid.difference == pytest.approx(-0.5) and lid.low == pytest.approx(-1) and lid.high == 0
    # BLEU is recomputed from sacrebleu's sentence statistics: the full-sample values are the report's
    bleu_d = diffs["s2tt:bleu/zh-en"]
    assert bleu_d.a == pytest.approx(100) and bleu_d.b == pytest.approx(
        bleu(["There are hats in the park."], ["Hats."])
    )
    # CIDEr-D: the mean of the captions' own scores gives the report's corpus values
    path = _manifest(tmp_path)
    reports = [
        _values(evaluate_manifest(ScriptedModel(path, w), path, progress=False)) for w in (None, _WRONG)
    ]
    cider = diffs["caption:cider_d"]
    assert cider.count == 3  # e1.flac's two caption examples are one caption
    assert (cider.a, cider.b) == (
        pytest.approx(reports[0]["caption:cider_d"]),
        pytest.approx(reports[1]["caption:cider_d"]),
    )
    assert cider.difference < 0 and cider.low <= cider.difference <= cider.high <= 0
    assert diffs["music_caption:cider_d"].difference == 0
    # the same seed resamples the same examples
    again = {d.metric: d for d in compare_samples(perfect, worse, resamples=500, seed=3)}
    assert again["asr:wer/en"] == wer


def test_gzipped_samples_read_back_and_compare_like_plain_ones(tmp_path):
    path = _manifest(tmp_path)
    report = evaluate_manifest(ScriptedModel(path, _WRONG), path, progress=False)
    plain, packed = tmp_path / "s.jsonl", tmp_path / "s.jsonl.gz"
    report.write_samples(plain)
    report.write_samples(packed)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert read_samples(packed) == read_samples(plain)
    perfect = _samples(tmp_path, "perfect", None)
    assert compare_samples(perfect, packed, resamples=200) == compare_samples(perfect, plain, resamples=200)
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(packed.read_bytes()[:40])
    with pytest.raises(ConfigError, match="cannot read samples file"):
        read_samples(truncated)
    not_gzip = tmp_path / "plain.jsonl.gz"
    not_gzip.write_bytes(plain.read_bytes())
    with pytest.raises(ConfigError, match="cannot read samples file"):
        read_samples(not_gzip)


def test_compare_rejects_samples_of_different_manifests(tmp_path):
    a = _samples(tmp_path, "a", None)
    other = tmp_path / "other"
    other.mkdir()
    b = _samples(other, "b", None)
    rows = b.read_text().splitlines()
    b.write_text("\n".join(r.replace('"reference": "two"', '"reference": "three"') for r in rows) + "\n")
    with pytest.raises(ConfigError, match="not made from the same manifest"):
        compare_samples(a, b)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="no samples"):
        compare_samples(a, empty)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{not json\n")
    with pytest.raises(ConfigError, match="line 1 is not a sample"):
        compare_samples(a, junk)
    with pytest.raises(ConfigError, match="not found"):
        compare_samples(a, tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="resamples"):
        compare_samples(a, a, resamples=1)


# ------------------------------------------------------------------------------- end to end
def _has_espeak() -> bool:
    from auricle.data.synth.backends import available_backends

    return bool(available_backends()["espeak"])


@pytest.mark.skipif(not _has_espeak(), reason="espeak-ng not installed")
def test_random_checkpoint_end_to_end_through_the_cli(tmp_path, capsys):
    from auricle.data.synth import SynthConfig, generate_corpus
    from auricle.demo import build_random_checkpoint

    corpus = tmp_path / "corpus"
    config = SynthConfig(
        out=corpus,
        max_clips=14,
        seed=12,
        languages=("en", "zh"),
        valid_frac=0.0,
        test_frac=0.6,
        progress=False,
        command="test",
    )
    generate_corpus(config)
    # train and test together cover every task family at this size; the paths stay relative
    manifest = corpus / "all.jsonl"
    manifest.write_text((corpus / "test.jsonl").read_text() + (corpus / "train.jsonl").read_text())
    tasks = {ex.task for ex in read_manifest(manifest)}
    ckpt = build_random_checkpoint(tmp_path / "ckpt")

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "report.json"
    argv = ["eval", "synthetic", str(ckpt), "--manifest", str(manifest), "--limit", "1"]
    argv += [
        "--batch-size",
        "4",
        "--max-new-tokens",
        "6",
        "--json",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--by-sentence-kind",
        "--timestamp-window",
        "5",
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0

    report = json.loads(out.read_text())
    assert set(report["tasks"]) == tasks
    for task, result in report["tasks"].items():
        assert result["count"] == 1
        if task in SKIPPED_TASKS:
            assert result["skipped"] and not result["metrics"]
            continue
        assert result["metrics"], task
        for m in result["metrics"]:
            if m["name"].startswith("shift_ms") and m["count"] == 0:
                assert m["value"] is None  # a random model's words rarely match the reference
            else:
                assert math.isfinite(m["value"]) and m["value"] >= 0, (task, m)
    asr_names = [m["name"] for m in report["tasks"]["asr"]["metrics"]]
    assert any(name.count("/") == 2 for name in asr_names), asr_names  # e.g. wer/en/carrier
    printed = capsys.readouterr().out
    assert "| task | examples | metric | value | n |" in printed and "| lid | 1 | accuracy |" in printed

    samples = tmp_path / "samples.jsonl"
    args = parser.parse_args([*argv, "--samples", str(samples)])
    assert args.func(args) == 0
    capsys.readouterr()
    rows = tmp_path / "compare.json"
    args = parser.parse_args(
        ["eval", "compare", str(samples), str(samples), "--resamples", "50", "--json", str(rows)]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert (
        "| metric | n | A | B | B − A | 95% interval | separable |" in printed
        and "| lid:accuracy | 1 |" in printed
    )
    assert all(r["difference"] == 0 and not r["separable"] for r in json.loads(rows.read_text()))


def test_chat_turns_are_scored_after_the_reference_history(tmp_path):
    import soundfile as sf
    from test_tasks_fakes import ScriptedEngine, noise, prompt_text_of

    from auricle.api import AudioModel

    sf.write(tmp_path / "a.flac", noise(1.0), 16000)
    sf.write(tmp_path / "b.flac", noise(1.5, seed=1), 16000)

    def turn(role, text, *audios):
        return {
            "role": role,
            "content": [{"type": "audio", "audio": a} for a in audios] + [{"type": "text", "text": text}],
        }

    chat = Example(
        id="ch1",
        task="chat",
        audio=["a.flac", "b.flac"],
        duration=2.5,
        split="test",
        messages=[
            turn("user", "What is in each recording?", 0, 1),
            turn("assistant", "A dog barks. Then rain falls."),
            turn("user", "Which one is longer?"),
            turn("assistant", "The second one."),
        ],
    )
    path = tmp_path / "test.jsonl"
    write_manifest(path, [chat])
    # the model gets the first reply half wrong and the second one right
    engine = ScriptedEngine(["A dog barks. Then wind blows.", "The second one."])
    report = evaluate_manifest(AudioModel(engine), path, progress=False)
    result = report.tasks["chat"]
    assert result.skipped is None
    assert result.metric("accuracy").value == 0.5 and result.metric("accuracy").count == 2
    assert result.metric("wer").value == pytest.approx(2 / 9)  # "wind blows" for "rain falls"
    second = prompt_text_of(engine.tokenizer, engine.requests[1])
    assert "Then rain falls." in second and "wind" not in second  # the reference history, not the model's
    assert second.count("<audio") == 2 and engine.configs[0].do_sample is False  # greedy, both audios
    sample = report.samples[0]
    assert sample.reference == ["A dog barks. Then rain falls.", "The second one."]
    assert sample.scores == {"wer": [2.0, 9.0], "accuracy": [1.0, 2.0]}


def test_the_harness_asks_every_example_in_its_training_prompt(tmp_path, monkeypatch):
    """Train/inference agreement: for each row of the committed examples (every tagged task), the
    harness's API call sends exactly the tag prompt the training example was rendered with. Two
    mismatches of this kind once cost the shipped model accuracy unnoticed (docs/model-card.md)."""
    sent: list[list] = []
    encode = ModelEngine._encode

    def spy(self, request):
        if not isinstance(request.prompt, Rendered):  # tag prompts are segment lists, chats Rendered
            sent.append([s for s in request.prompt if not isinstance(s, Audio)])
        return encode(self, request)

    monkeypatch.setattr(ModelEngine, "_encode", spy)
    model = api.load(build_random_checkpoint(tmp_path / "ckpt"), max_new_tokens=2)
    evaluate_manifest(model, EXAMPLES_DIR / "examples.jsonl", progress=False)
    asked = {repr(p) for p in sent}
    rows = [ex for ex in load_examples(EXAMPLES_DIR / "examples.jsonl") if ex.task != "chat"]
    assert len(rows) > 60
    for ex in rows:
        trained = [s for s in example_prompt(ex) if not isinstance(s, Audio)]
        assert repr(trained) in asked, f"{ex.id}: trained on {trained}"


def test_a_chat_session_renders_every_turn_in_its_training_form(tmp_path, monkeypatch):
    """The same agreement for chats: before each assistant turn the chat session renders exactly
    the training conversation up to that turn (system prompt, audio markers, roles)."""
    sent: list = []
    encode = ModelEngine._encode

    def spy(self, request):
        sent.append(request.prompt)
        return encode(self, request)

    monkeypatch.setattr(ModelEngine, "_encode", spy)
    model = api.load(build_random_checkpoint(tmp_path / "ckpt"), max_new_tokens=2)
    chats = [ex for ex in load_examples(EXAMPLES_DIR / "examples.jsonl") if ex.task == "chat"]
    assert chats
    for ex in chats:
        audios = [model.load_audio(EXAMPLES_DIR / a) for a in ex.audio]
        trained = render_chat(ex.messages, model.prompt_style, add_generation_prompt=False)
        for j, message in enumerate(ex.messages):
            if message["role"] != "assistant":
                continue
            session = model.chat()
            session.load_history(ex.messages[:j], audios)
            sent.clear()
            session.respond()
            asked = sent[0].segments
            assert trained.segments[: len(asked)] == asked, f"{ex.id}, turn {j}"
            assert trained.target[len(asked)]  # the prompt ends where the trained reply begins


def test_committed_samples_of_the_shipped_model_give_the_model_cards_numbers():
    """docs/samples holds the shipped model's answers on both recipe test splits (docs/evaluation.md);
    their pooled scores must be the model card's speech-split numbers, so they stay comparable."""
    samples_dir = Path(__file__).resolve().parents[1] / "docs" / "samples"
    header, speech = read_samples(samples_dir / "auricle-small-speech-test.jsonl.gz")
    assert header["manifest"] == "runs/corpus-speech/test.jsonl" and len(speech) == 4353
    sums = _pooled_scores(speech)
    errors = [100 * n / d for k, (n, d) in sums.items() if k.startswith("asr:") and "/" in k]
    assert len(errors) == 6
    assert round(sum(errors) / 6, 1) == 22.5  # the model card's mean ASR error of the tenth version
    assert round(100 * sums["lid:accuracy"][0] / sums["lid:accuracy"][1], 1) == 95.5
    header, general = read_samples(samples_dir / "auricle-small-general-test.jsonl.gz")
    assert header["manifest"] == "runs/corpus-general/test.jsonl" and len(general) == 6353
