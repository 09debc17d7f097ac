"""Music pieces (chords, bass, melody, drums in a key at a tempo) and songs (lyrics sung on a melody).

A song's lyrics are synthesised word by word by espeak-ng at a constant F0 equal to the melody
note (``Prosody.f0``), each word starting on its note; notes last a whole number of eighth notes
at least as long as the word, so the melody, the word times and the beat grid agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from auricle.data.synth import dsp
from auricle.data.synth.backends import Prosody, Voice
from auricle.data.synth.music import NOTE_NAMES, NoteSpec, render_note, sample_note
from auricle.data.synth.speech import synth_trimmed

SR = dsp.SAMPLE_RATE
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
# chord progressions as scale degrees (0-based)
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (5, 3, 0, 4), (0, 5, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
}
CHORD_FAMILIES = ("keyboard", "organ", "string", "guitar")
MELODY_FAMILIES = ("flute", "brass", "reed", "synth_lead", "mallet", "keyboard")


@dataclass
class Piece:
    """A rendered piece of music and its labels."""

    audio: np.ndarray
    key: str  # e.g. "D minor"
    tempo: int  # beats per minute
    mood: str
    instruments: list[str]
    drums: bool
    chords: list[str]
    melody: list[tuple[int, float, float]] = field(default_factory=list)  # (MIDI pitch, start, end)
    lyrics: list[tuple[str, float, float]] = field(default_factory=list)  # sung words with times


def mood_of(mode: str, tempo: int) -> str:
    """Mood word from mode and tempo: major fast happy, major slow peaceful, minor fast tense, minor slow sad."""
    if mode == "major":
        return "happy" if tempo >= 110 else "peaceful"
    return "tense" if tempo >= 110 else "sad"


def _chord(tonic: int, scale: tuple[int, ...], degree: int) -> tuple[list[int], str]:
    """Triad on ``degree`` (pitch classes relative to C in octave 3) and its name."""
    notes = [48 + tonic + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
    third = (notes[1] - notes[0]) % 12
    fifth = (notes[2] - notes[0]) % 12
    quality = "m" if third == 3 and fifth == 7 else "dim" if fifth == 6 else ""
    return notes, NOTE_NAMES[notes[0] % 12] + quality


class _Renderer:
    """Renders notes of fixed-timbre instruments, caching identical notes within one piece."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.timbre: dict[str, NoteSpec] = {}
        self.cache: dict[tuple, np.ndarray] = {}

    def note(self, family: str, pitch: int, seconds: float, velocity: int) -> np.ndarray:
        """``family`` playing ``pitch`` for ``seconds`` (plus a short release), scaled by velocity."""
        if family not in self.timbre:  # a clean timbre per instrument for the whole piece
            base = sample_note(self.rng, family)
            self.timbre[family] = replace(
                base, drive=1.0, tremolo=0.0, tempo_sync=0.0, second_pitch=None, reverb_rt60=0.0
            )
        key = (family, pitch, round(seconds, 3))
        if key not in self.cache:
            spec = replace(self.timbre[family], pitch=pitch, hold=seconds, release=0.15)
            self.cache[key] = render_note(spec, self.rng, level=False)
        return self.cache[key] * (velocity / 127)


def _add(out: np.ndarray, audio: np.ndarray, start: float) -> None:
    k = int(round(start * SR))
    m = min(len(audio), len(out) - k)
    if m > 0:
        out[k : k + m] += audio[:m]


def _drum(kind: str, rng: np.random.Generator) -> np.ndarray:
    n = int(0.3 * SR)
    t = np.arange(n) / SR
    if kind == "kick":
        return np.sin(2 * np.pi * np.cumsum(50 + 70 * np.exp(-t / 0.03)) / SR) * np.exp(-t / 0.12)
    if kind == "snare":
        noise = dsp.spectral_filter(rng.standard_normal(n), 1500, 7000) * np.exp(-t / 0.06)
        return noise * 0.6 + np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05) * 0.5
    return dsp.spectral_filter(rng.standard_normal(n), 6000, None) * np.exp(-t / 0.02) * 0.4  # hat


@dataclass
class _Plan:
    tonic: int
    mode: str
    tempo: int
    progression: tuple[int, ...]
    chord_family: str
    melody_family: str | None
    drums: bool


def _plan(rng: np.random.Generator, with_melody: bool) -> _Plan:
    mode = str(rng.choice(["major", "minor"]))
    progs = PROGRESSIONS[mode]
    return _Plan(
        tonic=int(rng.integers(12)),
        mode=mode,
        tempo=int(rng.integers(70, 151)),
        progression=progs[int(rng.integers(len(progs)))],
        chord_family=str(rng.choice(CHORD_FAMILIES)),
        melody_family=str(rng.choice(MELODY_FAMILIES)) if with_melody else None,
        drums=bool(rng.random() < 0.6),
    )


def _accompany(
    rng: np.random.Generator, plan: _Plan, bars: int, r: _Renderer, total: float
) -> tuple[np.ndarray, list[str]]:
    """Chords (one per bar), bass on beats 1 and 3, optional drums; returns audio and chord names."""
    beat = 60 / plan.tempo
    scale = MAJOR if plan.mode == "major" else MINOR
    out = np.zeros(int(total * SR) + SR)
    kit = {k: _drum(k, rng) for k in ("kick", "snare", "hat")} if plan.drums else {}  # one sample per drum
    names = []
    for bar in range(bars):
        notes, name = _chord(plan.tonic, scale, plan.progression[bar % len(plan.progression)])
        names.append(name)
        t0 = bar * 4 * beat
        for p in notes:
            _add(out, r.note(plan.chord_family, p, 4 * beat * 0.95, 60) * 0.5, t0)
        for b in (0, 2):
            _add(out, r.note("bass", notes[0] - 12, 2 * beat * 0.9, 90) * 0.8, t0 + b * beat)
        if plan.drums:
            for b in range(4):
                _add(out, kit["kick" if b % 2 == 0 else "snare"] * 0.6, t0 + b * beat)
                for half in (0, 0.5):
                    _add(out, kit["hat"] * 0.5, t0 + (b + half) * beat)
    return out, names


def _key_name(plan: _Plan) -> str:
    return f"{NOTE_NAMES[plan.tonic]} {plan.mode}"


def _instruments(plan: _Plan, melody: str | None) -> list[str]:
    names = [plan.chord_family, "bass"] + ([melody] if melody else [])
    return list(dict.fromkeys(names))


def make_piece(rng: np.random.Generator, max_seconds: float = 14.0) -> Piece:
    """An instrumental piece: 2-4 bars of chords, bass, a melody line and maybe drums."""
    plan = _plan(rng, with_melody=True)
    beat = 60 / plan.tempo
    bars = int(np.clip(max_seconds // (4 * beat), 2, 4))
    total = bars * 4 * beat
    r = _Renderer(rng)
    out, chords = _accompany(rng, plan, bars, r, total)
    scale = MAJOR if plan.mode == "major" else MINOR
    degree, t, melody = int(rng.integers(0, 7)), 0.0, []
    while t < total - beat / 2:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        length = min(length, total - t)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 13))
        pitch = 60 + plan.tonic + scale[degree % 7] + 12 * (degree // 7)
        _add(out, r.note(plan.melody_family, pitch, length * 0.9, 100) * 0.7, t)
        melody.append((pitch, round(t, 4), round(t + length, 4)))
        t += length
    audio = dsp.normalize(out[: int((total + 0.5) * SR)], float(rng.uniform(0.4, 0.9)))
    return Piece(
        audio,
        _key_name(plan),
        plan.tempo,
        mood_of(plan.mode, plan.tempo),
        _instruments(plan, plan.melody_family),
        plan.drums,
        chords,
        melody,
    )


def make_song(rng: np.random.Generator, words: list[str], voice: Voice) -> Piece:
    """``words`` sung by ``voice`` (espeak-ng) on a melody in a random key, over chords and bass."""
    plan = _plan(rng, with_melody=False)
    plan.tempo = int(rng.integers(70, 121))
    beat = 60 / plan.tempo
    scale = MAJOR if plan.mode == "major" else MINOR
    base = 57 if voice.gender == "female" else 45  # bottom of the singing range (A3 / A2)
    degree = int(rng.integers(2, 6))
    pitches = []
    for _ in words:
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 9))
        pitches.append(base + (plan.tonic - base) % 12 + scale[degree % 7] + 12 * (degree // 7))
    speed = float(rng.uniform(0.55, 0.8))
    prosody = [Prosody(speed=speed, pitch=1.0, range=0.0, f0=440.0 * 2 ** ((p - 69) / 12)) for p in pitches]
    chunks = synth_trimmed(words, voice, prosody)
    lead = beat * 2  # a half-bar count-in of accompaniment
    t, melody, lyrics = lead, [], []
    for word, pitch, chunk in zip(words, pitches, chunks):
        eighths = int(np.ceil((len(chunk) / SR + 0.08) / (beat / 2)))
        end = t + eighths * beat / 2
        melody.append((pitch, round(t, 4), round(end, 4)))
        start_sample = int(round(t * SR))
        lyrics.append((word, start_sample / SR, (start_sample + len(chunk)) / SR))
        t = end
    bars = int(np.ceil(t / (4 * beat)))
    total = bars * 4 * beat
    backing, chords = _accompany(rng, plan, bars, _Renderer(rng), total)
    vocal = np.zeros_like(backing)
    for (_, start, _), chunk in zip(lyrics, chunks):
        _add(vocal, chunk, start)
    vocal_level = dsp.rms(np.concatenate(chunks))
    backing *= vocal_level / (dsp.rms(backing) or 1) * 10 ** (-float(rng.uniform(6, 12)) / 20)
    mix = (vocal + backing)[: int((total + 0.5) * SR)]
    peak = float(np.max(np.abs(mix)))
    mix *= 0.9 / peak if peak > 0 else 1.0
    lyrics = [(w, round(s, 5), round(e, 5)) for w, s, e in lyrics]
    return Piece(
        mix,
        _key_name(plan),
        plan.tempo,
        mood_of(plan.mode, plan.tempo),
        _instruments(plan, None),
        plan.drums,
        chords,
        melody,
        lyrics,
    )
