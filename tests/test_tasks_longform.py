"""Long audio: windows cut at pauses, merged with offsets, no word lost or doubled at the seams.

The audio is synthetic with known content: every "word" is a tone burst whose frequency names it.
The model double transcribes a window by finding the bursts in the samples it is given (energy
above a threshold, then the FFT peak), so each window's transcript really is derived from the
content placed in that window; the windowing, prompts, parsing and merging under test are real.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_tasks_fakes import ScriptedEngine, noise, prompt_text_of

from auricle.api import AudioModel
from auricle.errors import AudioError
from auricle.tasks.longform import WINDOW_SECONDS, consecutive_windows, silence_windows

SR = 16000
VOCAB = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
LONG_WORD = "november"


def freq(word: str) -> float:
    return 300.0 + 40.0 * (VOCAB + [LONG_WORD]).index(word)


def synth(plan: list[tuple[str, float, float]], seconds: float) -> np.ndarray:
    """Tone bursts (word, start, end) over faint noise."""
    audio = noise(seconds, seed=1, level=1e-4)
    for word, start, end in plan:
        a, b = round(start * SR), round(end * SR)
        t = np.arange(b - a) / SR
        audio[a:b] += 0.5 * np.sin(2 * np.pi * freq(word) * t).astype(np.float32)
    return audio


def speech_plan(seconds: float, seed: int = 0) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(seed)
    plan, t, k = [], 0.3, 0
    while True:
        length, gap = rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.6)
        if t + length > seconds - 0.3:
            return plan
        plan.append((VOCAB[k % len(VOCAB)], round(t, 2), round(t + length, 2)))
        t += length + gap
        k += 1


def bursts(window: np.ndarray) -> list[tuple[str, float, float]]:
    """What the double 'hears': (word, start, end) of every burst in a window, window-relative."""
    hop = SR // 100
    energy = np.array([np.mean(window[i : i + hop] ** 2) for i in range(0, len(window) - hop + 1, hop)])
    loud = energy > 1e-3
    out, i = [], 0
    while i < len(loud):
        if not loud[i]:
            i += 1
            continue
        j = i
        while j < len(loud) and loud[j]:
            j += 1
        seg = window[i * hop : j * hop]
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        peak = np.fft.rfftfreq(len(seg), 1 / SR)[np.argmax(spectrum)]
        word = min(VOCAB + [LONG_WORD], key=lambda w: abs(freq(w) - peak))
        out.append((word, i / 100, j / 100))
        i = j
    return out


def srwt_reply(request) -> str:
    """SRWT output for the window: ``word<|end|>``, with ``<|sil|><|start|>`` before each gap."""
    text, now = "", 0.0
    for word, start, end in bursts(request.audios[0]):
        if start > now + 0.005:
            text += f"<|sil|><|{start:.2f}|>"
        text += f"{word}<|{end:.2f}|>"
        now = end
    return text


def text_reply(request) -> str:
    return " ".join(w for w, _, _ in bursts(request.audios[0]))


def test_long_transcription_with_word_times_matches_the_known_content():
    plan = speech_plan(75.0)
    audio = synth(plan, 75.0)
    engine = ScriptedEngine(srwt_reply)
    # the scripted words come from a small vocabulary and compress like a loop: no fallback here
    out = AudioModel(engine).transcribe(audio, language="en", word_timestamps=True, temperature=0)
    assert len(engine.requests) == 3  # 75 s in windows of at most 30 s
    assert all(len(r.audios[0]) <= WINDOW_SECONDS * SR for r in engine.requests)
    assert [w.word for w in out.words] == [w for w, _, _ in plan]
    for word, (_, start, end) in zip(out.words, plan):
        assert word.start == pytest.approx(start, abs=0.015) and word.end == pytest.approx(end, abs=0.015)
        assert not word.repaired
    assert out.text == " ".join(w for w, _, _ in plan)
    starts = [s.start for s in out.segments]
    assert starts == sorted(starts) and out.segments[-1].end <= 75.0


def test_a_word_cut_by_a_window_boundary_is_kept_once():
    # no pause between 19 s and 31 s: the first cut falls inside the long word
    plan = [p for p in speech_plan(60.0, seed=3) if p[2] < 18.5 or p[1] > 31.5]
    plan.append((LONG_WORD, 19.0, 31.0))
    plan.sort(key=lambda p: p[1])
    audio = synth(plan, 60.0)
    (first, second, *_) = silence_windows(audio)
    assert 19.0 < first.end / SR < 31.0  # the boundary really cuts the word
    out = AudioModel(ScriptedEngine(srwt_reply)).transcribe(audio, language="en", word_timestamps=True)
    assert [w.word for w in out.words] == [w for w, _, _ in plan]
    long = next(w for w in out.words if w.word == LONG_WORD)
    assert long.start == pytest.approx(19.0, abs=0.015) and long.end == pytest.approx(31.0, abs=0.015)


def test_long_transcription_without_timestamps():
    plan = speech_plan(70.0, seed=5)
    audio = synth(plan, 70.0)
    engine = ScriptedEngine(text_reply)
    out = AudioModel(engine).transcribe(audio, language="en", temperature=0)
    assert out.text == " ".join(w for w, _, _ in plan)
    assert len(out.segments) == len(engine.requests) == 3
    assert out.segments[0].start == 0.0 and out.segments[-1].end == 70.0
    assert all(a.end == b.start for a, b in zip(out.segments, out.segments[1:]))


def test_consecutive_windows():
    spans = [(w.start, w.end) for w in consecutive_windows(np.zeros(75 * SR, np.float32))]
    assert spans == [(0, 30 * SR), (30 * SR, 60 * SR), (60 * SR, 75 * SR)]
    # a tail too short for one encoder embedding is left out
    assert len(consecutive_windows(np.zeros(30 * SR + 100, np.float32))) == 1
    with pytest.raises(AudioError, match="at most 300 s"):
        consecutive_windows(np.zeros(301 * SR, np.float32))


def test_questions_about_long_audio_see_every_window_as_consecutive_spans():
    engine = ScriptedEngine("three")
    model = AudioModel(engine)
    model.ask(noise(65.0), "how many?")
    (request,) = engine.requests
    assert [len(a) for a in request.audios] == [30 * SR, 30 * SR, 5 * SR]
    assert prompt_text_of(engine.tokenizer, request).startswith(
        "<audio#0><audio#1><audio#2><|startofanalysis|>"
    )
    with pytest.raises(AudioError, match="301.0 s long"):
        model.caption(noise(301.0))
    model.max_audio_seconds = 400
    model.caption(noise(301.0))
