"""Quality regression test of the shipped model on the committed example clips (``examples/``).

The default model (``auricle.load()``) runs on CPU over the clips of ``examples/examples.jsonl`` (made
by ``examples/make_examples.py``: held-out sentences and voices of the synthetic corpus) and its
scores must stay within the thresholds below. Without an installed shipped model every test FAILS
(never skips): shipping auricle without its weights is the regression this file guards against.
``AURICLE_TEST_MODEL=path/to/checkpoint`` tests another checkpoint instead (a candidate before it is
packaged). ``AURICLE_TEST_DEVICE=cuda`` runs the same thresholds on the GPU (the checkpoint's own
dtype there). One batched call per task (per spoken language for transcripts): a few seconds on CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import defaultdict
from pathlib import Path

import pytest

import auricle
from auricle.data.manifest import Example
from auricle.errors import CheckpointError
from auricle.eval.metrics import TimedWord, error_rate, normalize, pooled_word_shift_ms
from auricle.eval.synthetic import CLASSIFY_KINDS, load_examples

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL_ENV = "AURICLE_TEST_MODEL"
DEVICE_ENV = "AURICLE_TEST_DEVICE"

# Thresholds: the shipped auricle-small's value on these clips (in each comment; measured on CPU,
# greedy decoding) plus a margin, so that a worse model or a broken pipeline fails. A model that
# ignores the audio scores about 1.0 WER and 1/7 language accuracy. Retraining: re-measure, reset.
#: Highest word error rate over the English clips (transcribe with the language given).
MAX_ENGLISH_WER = 0.2  # shipped (tenth) auricle-small: 0.056 (one word), as the ninth, eighth and seventh
#: Highest mean error rate (WER; CER for Chinese) over the other speech clips, one value per clip.
MAX_OTHER_LANGUAGE_ERROR = 0.5  # shipped: 0.297 (de 0.14, fr 0.20, es 0.14, it 0.00; zh 1.00); ninth 0.326
#: Lowest share of speech clips whose spoken language is detected right.
MIN_LANGUAGE_ACCURACY = 0.8  # shipped: 1.0 (7 of 7), as every version since the sixth; fifth 6 of 7
#: Highest mean word-boundary shift (ms) on the English clips with word timestamps.
MAX_WORD_SHIFT_MS = 120.0  # shipped: 9 ms, timestamp_window=10 (17 of 18 words found); ninth 12 ms
#: Lowest share of right labels on the sound clips (scene of the scene clip, events of both).
MIN_SOUND_ACCURACY = 0.3  # shipped: 0.67 (the scene and one event list right, the other one label short)
#: Lowest share of right voice (vocal) and prosody (emotion) labels on the speech clips.
MIN_SPEECH_LABEL_ACCURACY = 0.7  # shipped: 0.93 (13 of 14: 7 of 7 voices, 6 of 7 prosody); ninth 0.79
#: Lowest share of speech-clip captions (audio_language="auto") that name the spoken language.
MIN_CAPTION_LANGUAGE_ACCURACY = 0.7  # shipped: 1.0 (7 of 7); ninth asked with <|unknown|>: 2 of 7


@functools.cache
def _load() -> tuple[auricle.AudioModel | None, str]:
    override = os.environ.get(MODEL_ENV)
    try:
        return auricle.load(override or None, device=os.environ.get(DEVICE_ENV, "cpu")), ""
    except CheckpointError as e:
        return None, str(e)


def shipped_model() -> auricle.AudioModel:
    """The model under test (loaded once); the test fails when there is none."""
    model, error = _load()
    if model is None:
        pytest.fail(
            f"no model to test: {error}. The shipped weights belong in auricle/weights/ "
            f"(auricle.api.SHIPPED_MODELS); set {MODEL_ENV}=path/to/checkpoint to test another model",
            pytrace=False,
        )
    return model


@functools.cache
def examples() -> dict[str, list[Example]]:
    """The rows of examples/examples.jsonl by task."""
    by_task: dict[str, list[Example]] = defaultdict(list)
    for ex in load_examples(EXAMPLES / "examples.jsonl"):
        by_task[ex.task].append(ex)
    return dict(by_task)


def paths(rows: list[Example]) -> list[str]:
    """The audio file of each row."""
    return [str(EXAMPLES / ex.audio[0]) for ex in rows]


def short(text: str, width: int = 100) -> str:
    """``text`` cut to ``width`` characters, for readable failure messages."""
    return text if len(text) <= width else text[: width - 1] + "…"


def share(hits: list[bool]) -> float:
    """Fraction of true values."""
    return sum(hits) / len(hits)


def test_the_model_is_named() -> None:
    """``load()`` without a name reports the shipped default's name (eval reports and benches print it)."""
    assert shipped_model().name == (os.environ.get(MODEL_ENV) or auricle.api.DEFAULT_MODEL)


def test_english_transcripts() -> None:
    model = shipped_model()
    rows = [ex for ex in examples()["asr"] if ex.language == "en"]
    hyps = [h.text for h in model.transcribe(paths(rows), language="en")]
    wer = error_rate([ex.text for ex in rows], hyps, "en")
    report = "; ".join(f"{ex.audio[0]}: {short(h)!r} (ref {ex.text!r})" for ex, h in zip(rows, hyps))
    assert len(rows) >= 2
    assert wer <= MAX_ENGLISH_WER, f"English WER {wer:.3f} > {MAX_ENGLISH_WER}: {report}"


def test_other_language_transcripts() -> None:
    model = shipped_model()
    rows = [ex for ex in examples()["asr"] if ex.language != "en"]
    errors = {}
    for ex in rows:  # transcribe takes one language per call
        hyp = model.transcribe(paths([ex])[0], language=ex.language).text
        errors[ex.audio[0]] = (error_rate([ex.text], [hyp], ex.language), hyp)
    mean = sum(e for e, _ in errors.values()) / len(errors)
    report = "; ".join(f"{a}: {e:.2f} {short(h)!r}" for a, (e, h) in errors.items())
    assert len(rows) >= 3
    assert mean <= MAX_OTHER_LANGUAGE_ERROR, f"mean error {mean:.3f} > {MAX_OTHER_LANGUAGE_ERROR}: {report}"


def test_language_identification() -> None:
    model = shipped_model()
    rows = examples()["lid"]
    found = [d.language for d in model.detect_language(paths(rows))]
    accuracy = share([f == ex.language for f, ex in zip(found, rows)])
    report = ", ".join(f"{ex.audio[0]}: {f} (ref {ex.language})" for f, ex in zip(found, rows))
    assert {ex.language for ex in rows} >= {"en", "zh"}
    assert accuracy >= MIN_LANGUAGE_ACCURACY, f"language accuracy {accuracy:.2f}: {report}"


def test_english_word_timestamps() -> None:
    model = shipped_model()
    rows = [ex for ex in examples()["srwt"] if ex.language == "en"]
    results = model.transcribe(paths(rows), language="en", word_timestamps=True)
    shift_ms, matched = pooled_word_shift_ms(
        (
            [TimedWord(w.word, w.start, w.end) for w in ex.words or []],
            [TimedWord(w.word, w.start, w.end) for w in r.words],
        )
        for ex, r in zip(rows, results)
    )
    words = sum(len(ex.words or []) for ex in rows)
    shown = "n/a" if shift_ms is None else f"{shift_ms:.0f}"
    report = f"{matched} of {words} reference words found, mean boundary shift {shown} ms"
    assert matched >= words / 2, report
    assert shift_ms <= MAX_WORD_SHIFT_MS, report


def _label_hits(model: auricle.AudioModel, tasks: tuple[str, ...], sounds: bool) -> tuple[list[bool], str]:
    hits, report = [], []
    for task in tasks:
        rows = [ex for ex in examples().get(task, []) if (ex.language is None) == sounds]
        for ex, c in zip(rows, model.classify(paths(rows), CLASSIFY_KINDS[task])):
            hits.append(normalize(c.label) == normalize(ex.label or ""))
            report.append(f"{ex.audio[0]} {task}: {short(c.label, 40)!r} (ref {ex.label!r})")
    return hits, "; ".join(report)


def test_sound_labels() -> None:
    hits, report = _label_hits(shipped_model(), ("scene", "event"), sounds=True)
    assert len(hits) >= 2
    assert share(hits) >= MIN_SOUND_ACCURACY, f"sound label accuracy {share(hits):.2f}: {report}"


def test_speech_labels() -> None:
    hits, report = _label_hits(shipped_model(), ("vocal", "emotion"), sounds=False)
    assert len(hits) >= 4
    assert share(hits) >= MIN_SPEECH_LABEL_ACCURACY, f"voice/prosody accuracy {share(hits):.2f}: {report}"


LANGUAGE_WORDS = {
    "en": ("english",),
    "zh": ("mandarin", "chinese"),
    "de": ("german",),
    "fr": ("french",),
    "es": ("spanish",),
    "it": ("italian",),
}


def test_speech_captions_name_the_spoken_language() -> None:
    """Captions of the speech clips, their language detected first, name that language."""
    model = shipped_model()
    rows = [ex for ex in examples()["caption"] if ex.language in LANGUAGE_WORDS]
    captions = model.caption(paths(rows), style="plain", audio_language="auto")
    hits = [
        any(w in normalize(c.text).split() for w in LANGUAGE_WORDS[ex.language])
        for ex, c in zip(rows, captions)
    ]
    report = "; ".join(f"{ex.audio[0]}: {short(c.text, 60)!r}" for ex, c in zip(rows, captions))
    assert len(rows) >= 5
    assert share(hits) >= MIN_CAPTION_LANGUAGE_ACCURACY, f"language named in {share(hits):.2f}: {report}"


def test_two_turn_chat() -> None:
    """The demo's two-turn chat: the second reply names a voice type, as the reference does.

    It runs on the package's chat variant (Qwen-Audio-Chat's role) when the model has one.
    """
    model = shipped_model()
    ex = next(ex for ex in examples()["chat"] if len(ex.audio) == 1)
    user = [
        " ".join(c["text"] for c in m["content"] if c["type"] == "text")
        for m in ex.messages
        if m["role"] == "user"
    ]
    session = model.chat()
    session.generation = dataclasses.replace(
        session.generation, do_sample=False, max_new_tokens=48
    )  # as the demo
    first = session.send(user[0], audios=paths([ex])).text
    second = session.send(user[1]).text
    voices = {"male", "female", "child", "whisper", "whispered", "robotic"}
    assert first.strip(), "empty first reply"
    assert voices & set(normalize(second).split()), (
        f"no voice type in the reply {second!r} (first: {first!r})"
    )
