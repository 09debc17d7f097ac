"""End to end: a small corpus is byte-identical for any --jobs, covers every task and validates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auricle.cli import main
from auricle.data.manifest import TASKS, read_manifest
from auricle.data.synth import SynthConfig, generate_corpus
from auricle.data.synth.backends import available_backends
from auricle.data.synth.music import QUALITIES, VELOCITIES
from auricle.data.synth.scenes import SCENES
from auricle.data.synth.speech import HELD_OUT_VARIANTS, PROSODY_CLASSES

pytestmark = pytest.mark.skipif(not available_backends()["espeak"], reason="espeak-ng not installed")

LANGS = ("en", "zh", "it", "de")


def _config(out: Path, jobs: int) -> SynthConfig:
    return SynthConfig(
        out=out,
        hours=1.0,
        max_clips=48,
        seed=12,  # a seed whose 48 clips use all three synthesisers
        languages=LANGS,
        jobs=jobs,
        valid_frac=0.1,
        test_frac=0.15,
        progress=False,
        command="test",
    )


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    a = tmp_path_factory.mktemp("synth-a")
    b = tmp_path_factory.mktemp("synth-b")
    generate_corpus(_config(a, jobs=1))
    generate_corpus(_config(b, jobs=2))
    return a, b


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _examples(root: Path):
    return [ex for split in ("train", "valid", "test") for ex in read_manifest(root / f"{split}.jsonl")]


def test_same_seed_same_bytes_for_any_jobs(corpora):
    a, b = corpora
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb) and len([k for k in fa if k.endswith(".flac")]) == 48
    assert all(fa[k] == fb[k] for k in fa)


def test_every_task_family_present_and_valid(corpora):
    root = corpora[0]
    examples = _examples(root)
    assert {ex.task for ex in examples} == set(TASKS)
    used = {ex.meta.get("backend") for ex in examples}
    assert {name for name, ok in available_backends().items() if ok} <= used  # determinism covers all
    for ex in examples:
        ex.validate()
        for path in ex.audio:
            info = sf.info(root / path)
            assert info.samplerate == 16000 and info.channels == 1
        if ex.task != "chat":
            assert abs(sf.info(root / ex.audio[0]).duration - ex.duration) < 1e-3
        _check_task(ex)


def _check_task(ex) -> None:
    if ex.task in ("asr", "srwt", "lid"):
        assert ex.language in LANGS
    if ex.task == "asr":
        assert ex.text and ex.text_itn
    if ex.task == "srwt":
        joiner = "" if ex.language == "zh" else " "
        assert joiner.join(w.word for w in ex.words) == ex.text[:-1]
        assert 0 <= ex.words[0].start and ex.words[-1].end <= ex.duration
    if ex.task == "s2tt":
        assert ex.target_language != ex.language and "en" in (ex.language, ex.target_language)
    if ex.task == "scene":
        assert ex.label in SCENES
    if ex.task == "event":
        assert ex.label == ", ".join(dict.fromkeys(e.label for e in ex.events))
        assert all(0 <= e.start < e.end <= ex.duration + 1e-6 for e in ex.events)
    if ex.task == "vocal":
        assert ex.label in ("male", "female", "child", "whisper", "robotic")
    if ex.task == "emotion":
        assert ex.label in PROSODY_CLASSES
    if ex.task == "aqa":
        assert ex.question.endswith("?") and 0 < len(ex.text.split()) <= 6
    if ex.task == "note_analysis":
        note = ex.note
        assert set(note) == {"pitch", "velocity", "instrument", "qualities"}
        assert (
            0 <= note["pitch"] <= 127
            and note["velocity"] in VELOCITIES
            and set(note["qualities"]) <= set(QUALITIES)
        )
    if ex.task == "chat":
        roles = [m["role"] for m in ex.messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and 2 <= len(roles) // 2 <= 3
        audio_refs = [c["audio"] for m in ex.messages for c in m["content"] if c["type"] == "audio"]
        assert sorted(audio_refs) == list(range(len(ex.audio)))


def test_chats_include_two_audio_conversations(corpora):
    chats = [ex for ex in _examples(corpora[0]) if ex.task == "chat"]
    assert any(len(ex.audio) == 2 for ex in chats) and any(len(ex.audio) == 1 for ex in chats)


def test_clean_speech_has_silent_pauses_in_the_flac(corpora):
    root = corpora[0]
    checked = 0
    for ex in _examples(root):
        if ex.task != "srwt" or ex.meta["kind"] != "speech" or not ex.meta["clean"]:
            continue
        audio, sr = sf.read(root / ex.audio[0], dtype="int16")
        edges = [0] + [round(t * sr) for w in ex.words for t in (w.start, w.end)] + [len(audio)]
        for a, b in zip(edges[0::2], edges[1::2]):
            assert not np.any(audio[a:b])
        for w in ex.words:
            assert np.any(audio[round(w.start * sr) : round(w.start * sr) + 80])  # sound within 5 ms
        checked += 1
    assert checked >= 3


def test_held_out_voices_and_sentences(corpora):
    examples = _examples(corpora[0])
    srwt = [ex for ex in examples if ex.task == "srwt" and ex.meta["kind"] == "speech"]
    train_keys = {ex.meta["sentence_key"] for ex in srwt if ex.split == "train"}
    train_prosody = {ex.meta["prosody_key"] for ex in srwt if ex.split == "train"}
    for ex in srwt:
        if ex.split == "train":
            continue
        assert ex.meta["sentence_key"] not in train_keys
        assert ex.meta["prosody_key"] not in train_prosody
        if ex.meta["backend"] == "espeak":
            assert ex.meta["voice"].split("+")[1] in HELD_OUT_VARIANTS[ex.split]
    assert {ex.split for ex in srwt} >= {"train", "test"}


def test_readme_describes_the_corpus(corpora):
    text = (corpora[0] / "README.md").read_text()
    assert "seed: 12" in text and "| asr |" in text and "## Clips per kind" in text
    speech = [ex for ex in _examples(corpora[0]) if ex.task == "asr" and ex.meta["kind"] == "speech"]
    counts = {
        k: sum(ex.meta["sentence_key"].startswith(k + "|") for ex in speech) for k in ("parallel", "carrier")
    }
    assert "## Speech clips per kind of sentence" in text and "Sentence mix: parallel=0.45" in text
    assert sum(counts.values()) > 0
    for kind, n in counts.items():
        if n:
            assert f"| {kind} | {n} |" in text


def test_cli_generates_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        [
            "data",
            "synth",
            "--out",
            str(out),
            "--hours",
            "0.01",
            "--max-clips",
            "3",
            "--seed",
            "3",
            "--tasks",
            "asr,lid",
            "--languages",
            "en",
            "--no-progress",
        ]
    )
    assert code == 0
    lines = (out / "train.jsonl").read_text().splitlines() + (out / "test.jsonl").read_text().splitlines()
    assert lines and {json.loads(x)["task"] for x in lines} <= {"asr", "lid"}
    assert "wrote 3 clips" in capsys.readouterr().out
    assert main(["data", "synth", "--out", str(out), "--tasks", "dance", "--no-progress"]) == 1
    assert "unknown task" in capsys.readouterr().err


def test_cli_sentence_mix_makes_a_vocabulary_dense_corpus_and_rejects_bad_mixes(tmp_path, capsys):
    out = tmp_path / "words"
    args = ["data", "synth", "--out", str(out), "--max-clips", "6", "--seed", "4", "--languages", "en,ja"]
    assert main([*args, "--tasks", "asr", "--sentence-mix", "carrier=1,list=2", "--no-progress"]) == 0
    rows = [
        json.loads(x)
        for f in ("train", "valid", "test")
        for x in (out / f"{f}.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 6 and {r["meta"]["sentence_key"].split("|")[0] for r in rows} <= {"carrier", "list"}
    capsys.readouterr()
    for mix, tasks, message in [
        ("dance=1", "asr", "unknown sentence kind"),
        ("list=0", "asr", "one > 0"),
        ("list=1", "asr,s2tt", "s2tt needs parallel sentences"),
    ]:
        assert main([*args, "--tasks", tasks, "--sentence-mix", mix, "--no-progress"]) == 1
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--sentence-mix", "list", "--no-progress"])
    assert "expected kind=weight" in capsys.readouterr().err
