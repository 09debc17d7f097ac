"""Synthetic sounds, scenes, notes, music, songs and augmentation: labels agree with the audio."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from auricle.data.synth import dsp
from auricle.data.synth.augment import augment, codec_round_trip, pitch_shift, time_stretch
from auricle.data.synth.backends import Voice, available_backends
from auricle.data.synth.forking import run_forked
from auricle.data.synth.music import (
    FAMILIES,
    QUALITIES,
    midi_to_hz,
    note_name,
    note_qualities,
    render_note,
    sample_note,
)
from auricle.data.synth.scenes import SCENES, make_event_clip, make_scene
from auricle.data.synth.song import make_piece, make_song
from auricle.data.synth.sounds import EVENT_CLASSES, make_event

SR = dsp.SAMPLE_RATE


def _f0(x: np.ndarray, lo: float, hi: float) -> float:
    """Strongest spectral peak between ``lo`` and ``hi`` Hz (zero-padded FFT)."""
    n = 1 << (len(x) * 4 - 1).bit_length()
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    f = np.fft.rfftfreq(n, 1 / SR)
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(spec[band])])


def test_at_least_twenty_event_classes_with_extent():
    assert len(EVENT_CLASSES) >= 20
    rng = np.random.default_rng(0)
    for label in EVENT_CLASSES:
        audio, start, end = make_event(rng, label, 2.0)
        assert np.all(np.isfinite(audio)) and 0.9 < np.max(np.abs(audio)) <= 1.0 + 1e-9
        assert 0 <= start < end <= len(audio) and (end - start) > 0.02 * SR, label


def test_scene_events_lie_inside_the_clip_and_match_the_scene():
    rng = np.random.default_rng(1)
    for scene in SCENES:
        clip = make_scene(rng, scene, 6.0)
        assert clip.scene == scene and len(clip.audio) == 6 * SR
        assert 2 <= len(clip.events) <= 6
        for label, start, end in clip.events:
            assert label in SCENES[scene]["events"] and 0 <= start < end <= 6.0
        assert [e[1] for e in clip.events] == sorted(e[1] for e in clip.events)


def test_event_clip_foreground_is_where_the_events_are():
    rng = np.random.default_rng(2)
    clip = make_event_clip(rng, 6.0, ["beeping"])
    mask = np.zeros(len(clip.audio), bool)
    for _, s, e in clip.events:
        mask[int(s * SR) : int(e * SR)] = True
    inside, outside = clip.audio[mask], clip.audio[~mask]
    assert dsp.rms(inside) > 30 * max(dsp.rms(outside), 1e-9)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_note_pitch_matches_label(family):
    rng = np.random.default_rng(3)
    spec = replace(
        sample_note(rng, family), second_pitch=None, drive=1.0, tremolo=0.0, tempo_sync=0.0, reverb_rt60=0.0
    )
    spec = replace(spec, decay=2.0, hold=1.0, pitch=FAMILIES[family][0] + 12)
    audio = render_note(spec, rng)
    f0 = midi_to_hz(spec.pitch)
    body = audio[int(0.05 * SR) : int(0.6 * SR)]
    assert abs(_f0(body, f0 * 0.9, f0 * 1.1) / f0 - 1) < 0.01  # within a fifth of a semitone
    harmonic_energy = max(_f0(body, f0 * 0.5, f0 * 4.2) / f0, 1.0)
    assert harmonic_energy < 4.5  # the strongest partial is a harmonic of the label pitch range


def test_note_qualities_follow_parameters_and_velocity_sets_level():
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(300):
        seen.update(note_qualities(sample_note(rng)))
    assert seen == set(QUALITIES)
    base = replace(
        sample_note(rng, "organ"), drive=1.0, tremolo=0.0, tempo_sync=0.0, second_pitch=None, reverb_rt60=0.0
    )
    assert note_qualities(replace(base, brightness=0.9, decay=0.1, release=1.0)) == sorted(
        ["bright", "fast_decay", "long_release"] + (["percussive"] if base.noise_attack else [])
    )
    soft, loud = render_note(replace(base, velocity=25), rng), render_note(replace(base, velocity=127), rng)
    assert np.max(np.abs(loud)) / np.max(np.abs(soft)) > 10
    assert note_name(60) == "C4" and note_name(69) == "A4"


def test_piece_labels():
    piece = make_piece(np.random.default_rng(5), 8.0)
    tonic, mode = piece.key.split()
    assert mode in ("major", "minor") and 70 <= piece.tempo <= 150 and len(piece.chords) >= 2
    beat = 60 / piece.tempo
    assert piece.melody[0][1] == 0.0 and all(
        abs(s2 - e1) < 1e-6 for (_, _, e1), (_, s2, _) in zip(piece.melody, piece.melody[1:])
    )
    eighths = [(e - s) / beat * 2 for _, s, e in piece.melody[:-1]]
    assert all(abs(k - round(k)) < 1e-3 and k >= 1 for k in eighths)  # whole eighth notes
    assert len(piece.audio) / SR >= len(piece.chords) * 4 * beat


@pytest.mark.skipif(not available_backends()["espeak"], reason="espeak-ng not installed")
def test_song_words_sit_on_their_notes_at_the_note_pitch():
    voice = Voice("espeak", "en-us", "f2", "en", "female", "female")
    song = run_forked(lambda: make_song(np.random.default_rng(6), ["la", "see", "blue", "moon"], voice))
    assert [w for w, _, _ in song.lyrics] == ["la", "see", "blue", "moon"]
    for (_, ws, we), (_, ns, ne) in zip(song.lyrics, song.melody):
        assert abs(ws - ns) < 1e-3 and we <= ne + 1e-6
    _, ws, we = song.lyrics[0]
    pitch = song.melody[0][0]
    f0 = midi_to_hz(pitch)
    sung = song.audio[int(ws * SR) : int(we * SR)]
    assert abs(_f0(sung, f0 * 0.93, f0 * 1.07) / f0 - 1) < 0.02


def test_time_stretch_and_pitch_shift_keep_time_scale():
    x = np.zeros(3 * SR)
    x[SR : 2 * SR] = np.sin(2 * np.pi * 300 * np.arange(SR) / SR)
    y = time_stretch(x, 1.25)
    assert len(y) == int(len(x) * 1.25)
    s, e = dsp.trim_bounds(y)
    assert abs(s / SR - 1.25) < 0.04 and abs(e / SR - 2.5) < 0.04
    assert abs(_f0(y[int(1.4 * SR) : int(2.3 * SR)], 200, 400) - 300) < 3
    z = pitch_shift(x, 2.0)
    assert len(z) == len(x) and abs(_f0(z[int(1.1 * SR) : int(1.9 * SR)], 250, 400) - 300 * 2 ** (2 / 12)) < 4


@pytest.mark.parametrize("codec", ["mp3", "opus", "aac"])
def test_codec_round_trip_is_aligned_and_reproducible(codec):
    x = np.zeros(2 * SR)
    x[8000:16000] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / SR)
    y = codec_round_trip(x, codec, 32000)
    assert len(y) == len(x) and np.array_equal(y, codec_round_trip(x, codec, 32000))
    s, _ = dsp.trim_bounds(y, -30)
    assert abs(s - 8000) < 0.003 * SR  # the codec delay is removed
    assert np.corrcoef(x, y)[0, 1] > 0.9


def test_augment_records_steps_and_scales_time():
    rng = np.random.default_rng(8)
    x = np.sin(2 * np.pi * 200 * np.arange(2 * SR) / SR) * 0.3
    kinds = set()
    for _ in range(40):
        y, scale, steps = augment(
            x, rng, frozenset({"noise", "reverb", "speed", "pitch", "gain", "telephone", "codec"})
        )
        assert steps and np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 0.99 + 1e-9
        speed = [s["factor"] for s in steps if s["type"] == "speed"]
        assert scale == pytest.approx(1 / speed[0] if speed else 1.0)
        if not any(s["type"] == "reverb" for s in steps):
            assert abs(len(y) - len(x) * scale) <= 2
        kinds.update(s["type"] for s in steps)
    assert {"noise", "reverb", "speed", "pitch", "gain"} <= kinds
    same, scale, steps = augment(x, rng, frozenset())
    assert same is x and scale == 1.0 and steps == []
