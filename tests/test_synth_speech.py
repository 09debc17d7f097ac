"""Speech synthesis: every backend speaks, output is reproducible, and word times are exact."""

from __future__ import annotations

import numpy as np
import pytest

from auricle.data.synth import dsp
from auricle.data.synth.backends import Prosody, Voice, available_backends, get_backend, require_backends
from auricle.data.synth.forking import run_forked
from auricle.data.synth.speech import (
    ESPEAK_VOICES,
    HELD_OUT_VARIANTS,
    Speaker,
    render_sentence,
    sample_speaker,
    voice_pool,
)
from auricle.errors import ConfigError

INSTALLED = available_backends()
WORDS = ["seven", "green", "bottles", "tomorrow"]

VOICES = [
    Voice("espeak", "en-us", "m3", "en", "male", "male"),
    Voice("espeak", "cmn-latn-pinyin", "f2", "zh", "female", "female"),
    Voice("flite", "slt", None, "en", "female", "female"),
    Voice("flite", "rms", None, "en", "male", "male"),
    Voice("festival", "kal_diphone", None, "en", "male", "male"),
    Voice("festival", "cmu_us_slt_arctic_hts", None, "en", "female", "female"),
    Voice("festival", "lp_diphone", None, "it", "male", "male"),
]


def _needs(backend: str):
    return pytest.mark.skipif(not INSTALLED.get(backend), reason=f"{backend} not installed")


@pytest.fixture(scope="module", autouse=True)
def _stop_festival():
    yield
    get_backend("festival").close()


def _synth(voice: Voice, words: list[str], prosody: Prosody | None = None) -> list[np.ndarray]:
    """Synthesise in a fresh fork (espeak-ng, flite keep state) or directly (Festival is a process)."""
    prosody = prosody or Prosody()
    backend = get_backend(voice.backend)
    if voice.backend == "festival":
        return backend.synth_words(words, voice, [prosody] * len(words))
    return run_forked(lambda: backend.synth_words(words, voice, [prosody] * len(words)))


@pytest.mark.parametrize("voice", VOICES, ids=lambda v: v.key)
def test_backend_speaks_each_word_reproducibly(voice):
    if not INSTALLED.get(voice.backend):
        pytest.skip(f"{voice.backend} not installed")
    words = (
        ["città", "nove"]
        if voice.language == "it"
        else ["四", "苹果"]
        if voice.language == "zh"
        else WORDS[:2]
    )
    first = _synth(voice, words)
    assert len(first) == len(words)
    for chunk in first:
        start, end = dsp.trim_bounds(chunk)
        assert 0.1 < (end - start) / dsp.SAMPLE_RATE < 2.0 and dsp.rms(chunk) > 1e-3
    # a fresh forked process gives the same samples; so does a process that spoke before
    again = _synth(voice, words)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


@_needs("festival")
def test_festival_output_does_not_depend_on_history():
    voice = VOICES[4]
    fest = get_backend("festival")
    alone = fest.synth_words(["garden"], voice, [Prosody()])[0]
    fest.synth_words(["something", "else"], VOICES[5], [Prosody(speed=1.3, pitch=1.1)] * 2)
    after = fest.synth_words(["garden"], voice, [Prosody()])[0]
    assert np.array_equal(alone, after)


@_needs("espeak")
def test_prosody_controls_duration_and_constant_f0():
    voice = VOICES[0]
    slow, fast = (
        _synth(voice, ["wonderful"], Prosody(speed=0.7))[0],
        _synth(voice, ["wonderful"], Prosody(speed=1.4))[0],
    )
    assert len(dsp.trim(slow)) > 1.4 * len(dsp.trim(fast))
    sung = dsp.trim(_synth(voice, ["aah"], Prosody(f0=220.0, range=0.0))[0])
    spec = np.abs(np.fft.rfft(sung * np.hanning(len(sung)), 8 * len(sung)))
    freqs = np.fft.rfftfreq(8 * len(sung), 1 / dsp.SAMPLE_RATE)
    band = (freqs > 150) & (freqs < 300)
    assert abs(freqs[band][np.argmax(spec[band])] - 220.0) < 6.0


def test_missing_backend_error_names_install_command(monkeypatch):
    import auricle.data.synth.backends as b

    monkeypatch.setattr(b, "available_backends", lambda: {"espeak": True, "festival": False, "flite": True})
    with pytest.raises(ConfigError, match="apt-get install festival"):
        require_backends(["festival"])


def test_held_out_voices_never_in_train():
    train = {v.variant for lang in ESPEAK_VOICES for v in voice_pool(lang, "espeak", "train")}
    for split in ("valid", "test"):
        held = {v.variant for v in voice_pool("en", "espeak", split)}
        assert held == set(HELD_OUT_VARIANTS[split]) and not held & train


@_needs("espeak")
@pytest.mark.parametrize("lang", ["en", "zh", "de"])
def test_word_times_are_exact(lang):
    """Pauses are silent, every word span starts and ends with sound, and almost all energy is in words."""
    rng = np.random.default_rng({"en": 1, "zh": 2, "de": 3}[lang])
    words = {
        "en": WORDS,
        "zh": ["我们", "明天", "二十三", "苹果"],
        "de": ["sieben", "grüne", "Flaschen", "morgen"],
    }[lang]

    def render():
        speaker = sample_speaker(rng, lang, "train", INSTALLED, 0.1, 0.1)
        return render_sentence(rng, words, speaker)

    out = run_forked(render)
    # 16-bit round trip, as written to FLAC
    audio = dsp.to_pcm16(out.audio).astype(np.float64) / 32767
    sr = dsp.SAMPLE_RATE
    assert [w for w, _, _ in out.words] == words
    edges = [0] + [int(round(t * sr)) for _, s, e in out.words for t in (s, e)] + [len(audio)]
    gaps = list(zip(edges[0::2], edges[1::2]))  # silence before, between and after the words
    spans = list(zip(edges[1::2], edges[2::2]))
    assert all(np.all(audio[a:b] == 0) for a, b in gaps)
    frame = int(0.005 * sr)
    for a, b in spans:
        word = audio[a:b]
        level = np.sqrt(np.mean(word**2))
        assert np.sqrt(np.mean(word[:frame] ** 2)) > 0.005 * level  # sound within 5 ms of the start
        assert np.sqrt(np.mean(word[-frame:] ** 2)) > 0.005 * level  # ... and of the end
    inside = sum(float(np.sum(audio[a:b] ** 2)) for a, b in spans)
    assert inside >= 0.999 * float(np.sum(audio**2))
    # the trim rule itself: what re-trimming a word span would cut is only a faint edge
    for a, b in spans:
        word = audio[a:b]
        s, e = dsp.trim_bounds(word)
        assert s <= 0.005 * sr
        assert float(np.sum(word[:s] ** 2) + np.sum(word[e:] ** 2)) < 1e-3 * float(np.sum(word**2))


@_needs("espeak")
def test_child_voice_and_prosody_classes_are_labelled():
    rng = np.random.default_rng(0)
    speakers = [sample_speaker(rng, "en", "train", {"espeak": True}, 0.1, 0.1) for _ in range(300)]
    assert {s.vocal for s in speakers} == {"male", "female", "child", "whisper", "robotic"}
    assert {s.emotion for s in speakers} == {"neutral", "excited", "calm", "sad"}
    for s in speakers:
        assert isinstance(s, Speaker)
        assert (s.prosody.tract > 1) == (s.vocal == "child")
        if s.emotion == "excited":
            assert s.prosody.speed >= 1.15
        if s.emotion == "sad":
            assert s.prosody.speed <= 0.78
