"""Output writers against golden files (tests/data/golden/), with and without word timing.

To regenerate the golden files after a deliberate format change:
``AURICLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_writers.py`` (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auricle.errors import ConfigError
from auricle.tasks.results import Caption, Classification, Event, Label, Segment, Transcription, Word
from auricle.tasks.writers import FORMATS, format_timestamp, get_writer

GOLDEN = Path(__file__).parent / "data" / "golden"
UPDATE = os.environ.get("AURICLE_UPDATE_GOLDEN") == "1"

TRANSCRIPT = Transcription(
    text="mister quilter is the apostle, of the middle classes",
    language="en",
    segments=[
        Segment(
            0,
            0.0,
            1.9,
            "mister quilter is the apostle,",
            [
                Word("mister", 0.0, 0.38),
                Word("quilter", 0.38, 0.9),
                Word("is", 0.9, 1.05),
                Word("the", 1.05, 1.2, repaired=True),
                Word("apostle,", 1.2, 1.9),
            ],
        ),
        Segment(
            1,
            2.33,
            3661.5,
            "of the middle classes",
            [
                Word("of", 2.33, 2.5),
                Word("the", 2.5, 2.62),
                Word("middle", 2.62, 2.95),
                Word("classes", 2.95, 3661.5),
            ],
        ),
    ],
    duration=3662.0,
)

CHINESE = Transcription(
    text="面条机",
    language="zh",
    segments=[
        Segment(
            0, 0.54, 1.46, "面条机", [Word("面", 0.54, 0.86), Word("条", 0.86, 1.17), Word("机", 1.17, 1.46)]
        )
    ],
    duration=2.01,
)


def check(path: Path, golden_name: str) -> None:
    golden = GOLDEN / golden_name
    if UPDATE:
        golden.write_bytes(path.read_bytes())
    assert path.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8"), golden_name


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt", "tsv"])
@pytest.mark.parametrize("words", [False, True])
def test_transcript_formats(tmp_path, fmt, words):
    path = get_writer(fmt, tmp_path)(TRANSCRIPT, "audio/speech.flac", word_timestamps=words)
    assert path == tmp_path / f"speech.{fmt}"
    check(path, f"speech{'.words' if words else ''}.{fmt}")


def test_chinese_word_cues_have_no_spaces(tmp_path):
    check(get_writer("vtt", tmp_path)(CHINESE, "zh.wav", word_timestamps=True), "zh.words.vtt")


def test_all_writes_every_format_that_fits(tmp_path):
    paths = get_writer("all", tmp_path)(TRANSCRIPT, "speech.wav")
    assert sorted(p.name for p in paths) == sorted(f"speech.{f}" for f in FORMATS if f != "all")
    paths = get_writer("all", tmp_path)(Caption("a dog barks"), "dog.wav")
    assert sorted(p.name for p in paths) == ["dog.json", "dog.txt"]
    assert (tmp_path / "dog.txt").read_text() == "a dog barks\n"
    assert json.loads((tmp_path / "dog.json").read_text()) == {"text": "a dog barks", "type": "Caption"}


def test_other_results(tmp_path):
    result = Classification("scene", "park", 0.75, [Label("park", 0.75), Label("bus", 0.25)], "park")
    assert get_writer("txt", tmp_path)(result, "x.wav").read_text() == "park\n"
    with pytest.raises(ConfigError, match="txt or json"):
        get_writer("srt", tmp_path)(result, "x.wav")
    with pytest.raises(ConfigError, match="valid formats"):
        get_writer("docx", tmp_path)
    events = [Event("siren", 0.5, 2.25), Event("horn", 3.0, 3.5)]
    timed = Classification("event", "siren, horn", 0.5, [Label("siren, horn", 0.5)], "siren, horn", events)
    assert get_writer("txt", tmp_path)(timed, "y.wav").read_text() == "siren 0.50-2.25 s, horn 3.00-3.50 s\n"
    saved = json.loads(get_writer("json", tmp_path)(timed, "y.wav").read_text())
    assert saved["events"][1] == {"label": "horn", "start": 3.0, "end": 3.5, "repaired": False}


def test_format_timestamp():
    assert format_timestamp(3661.5) == "01:01:01.500"
    assert format_timestamp(0.0015, ",") == "00:00:00,002"
    assert format_timestamp(59.9996) == "00:01:00.000"
    with pytest.raises(ValueError):
        format_timestamp(-1)
