"""``python -m auricle.demo`` over the committed ``examples/``, on a tiny random checkpoint.

The weights are random, so the answers are random text: these tests guard the plumbing (every
section printed, exit codes, the random-model fallback) and the example folder the demo and
tests/test_shipped_model.py read, not quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from auricle import api, demo
from auricle.eval.synthetic import load_examples

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECTIONS = [
    "Language identification",
    "Transcription",
    "Word timestamps",
    "Translation",
    "Captions",
    "Questions",
    "Classification",
    "Music",
    "Chat",
    "real-time factor",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return demo.build_random_checkpoint(tmp_path_factory.mktemp("ckpt"), seed=2)


def test_examples_cover_every_task_in_short_clips() -> None:
    rows = load_examples(EXAMPLES / "examples.jsonl")  # validates every row, checks the audio exists
    tasks = {ex.task for ex in rows}
    assert tasks >= {"asr", "srwt", "lid", "s2tt", "caption", "scene", "event", "vocal", "emotion", "aqa"}
    assert tasks >= {"note_analysis", "music_caption", "chat"}
    assert {ex.language for ex in rows if ex.task == "lid"} >= {"en", "zh", "de", "fr"}
    assert demo.EXAMPLES_DIR == EXAMPLES
    clips = sorted(EXAMPLES.glob("*.flac"))
    assert {a for ex in rows for a in ex.audio} == {p.name for p in clips}
    for clip in clips:
        info = sf.info(clip)
        assert info.samplerate == 16000 and info.channels == 1, clip.name
        assert 1.5 <= info.duration <= 7.5, clip.name
    assert sum(p.stat().st_size for p in EXAMPLES.iterdir()) < 1_500_000


def test_demo_runs_over_the_examples(checkpoint, capsys) -> None:
    code = demo.main(["--model", str(checkpoint), "--max-new-tokens", "4"])
    out = capsys.readouterr().out
    assert code == 0
    for section in SECTIONS:
        assert section in out, section
    for clip in ("en-speech-1", "zh-speech", "scene", "event", "note", "music"):
        assert clip in out, clip
    assert "ref:   The word dutch is on page seven thousand one hundred forty nine." in out
    assert "sound events with their times" in out and "ref:   buzzer " in out  # the event clip's times
    assert "RANDOM" not in out  # a model was given: no fallback note


def test_demo_falls_back_to_a_labelled_random_model(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(api, "DEFAULT_MODEL", None)
    folder = tmp_path / "examples"
    folder.mkdir()
    shutil.copy(EXAMPLES / "note.flac", folder)
    lines = [
        line for line in (EXAMPLES / "examples.jsonl").open() if json.loads(line)["audio"] == ["note.flac"]
    ]
    (folder / "examples.jsonl").write_text("".join(lines))
    assert demo.main(["--examples", str(folder), "--max-new-tokens", "2"]) == 0
    out = capsys.readouterr().out
    assert "RANDOM weights" in out and "DEFAULT_MODEL is None" in out
    assert "note" in out and "real-time factor" in out


def test_demo_says_when_the_examples_are_missing(tmp_path, capsys) -> None:
    assert demo.main(["--examples", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "examples.jsonl not found" in err and "make_examples.py" in err
