"""Musical notes with known pitch, velocity, instrument family and NSynth-style sonic qualities.

Synthesis: wavetable oscillators built from harmonic spectra (additive), two-operator FM
(keyboard, mallet, brass), Karplus-Strong plucked strings (guitar, bass). Each of NSynth's ten
qualities is set from a synthesis parameter (:func:`note_qualities` documents the thresholds),
so the labels describe how the note was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auricle.data.synth import dsp

SR = dsp.SAMPLE_RATE
VELOCITIES = (25, 50, 75, 100, 127)  # NSynth's velocity levels
QUALITIES = (
    "bright",
    "dark",
    "distortion",
    "fast_decay",
    "long_release",
    "multiphonic",
    "nonlinear_env",
    "percussive",
    "reverb",
    "tempo-synced",
)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# family -> (lowest MIDI pitch, highest, synthesis method, source)
FAMILIES = {
    "bass": (28, 55, "pluck", "electronic"),
    "brass": (45, 82, "fm", "acoustic"),
    "flute": (60, 96, "additive", "acoustic"),
    "guitar": (40, 79, "pluck", "acoustic"),
    "keyboard": (36, 96, "fm", "acoustic"),
    "mallet": (53, 96, "fm", "acoustic"),
    "organ": (36, 84, "additive", "electronic"),
    "reed": (50, 84, "additive", "acoustic"),
    "string": (43, 88, "additive", "acoustic"),
    "synth_lead": (48, 90, "additive", "synthetic"),
}


def midi_to_hz(pitch: float) -> float:
    """Frequency of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2 ** ((pitch - 69) / 12)


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch, e.g. 60 -> ``C4``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass
class NoteSpec:
    """Every parameter of one synthesised note."""

    family: str
    pitch: int
    velocity: int
    hold: float  # seconds from onset to note-off
    release: float  # seconds of release after note-off
    decay: float  # time constant of the amplitude decay while held (seconds; large = sustained)
    brightness: float  # spectral tilt: harmonic k has amplitude k**-(2.2 - 1.6 * brightness)
    drive: float  # tanh waveshaping gain (1 = clean)
    tremolo: float  # depth of amplitude modulation (0 = none)
    tremolo_rate: float  # Hz
    tempo_sync: float  # rate of tempo-synced gating in Hz (0 = none)
    second_pitch: int | None  # an extra simultaneous pitch (multiphonic)
    noise_attack: float  # level of the noisy attack transient
    reverb_rt60: float  # 0 = dry


def sample_note(rng: np.random.Generator, family: str | None = None) -> NoteSpec:
    """Random note parameters; each quality is switched on with some probability per note."""
    family = family or str(rng.choice(sorted(FAMILIES)))
    lo, hi, method, _ = FAMILIES[family]
    plucked = method == "pluck" or family in ("keyboard", "mallet")
    tempo_bpm = float(rng.choice([90, 100, 120, 128, 140]))
    second = None
    if rng.random() < 0.15:
        second = int(rng.integers(lo, hi + 1)) + int(rng.choice([5, 7, 12, 19]))
    return NoteSpec(
        family=family,
        pitch=int(rng.integers(lo, hi + 1)),
        velocity=int(rng.choice(VELOCITIES)),
        hold=float(rng.uniform(0.8, 2.5)),
        release=float(rng.uniform(0.9, 1.5) if rng.random() < 0.25 else rng.uniform(0.05, 0.4)),
        decay=float(
            rng.uniform(0.08, 0.25)
            if (plucked and rng.random() < 0.5) or rng.random() < 0.1
            else rng.uniform(0.6, 6.0)
        ),
        brightness=float(rng.uniform(0.0, 1.0)),
        drive=float(rng.uniform(4.0, 12.0) if rng.random() < 0.15 else 1.0),
        tremolo=float(rng.uniform(0.4, 0.8) if rng.random() < 0.15 else 0.0),
        tremolo_rate=float(rng.uniform(3.0, 8.0)),
        tempo_sync=tempo_bpm / 60 * float(rng.choice([1, 2, 4])) if rng.random() < 0.1 else 0.0,
        second_pitch=second if second is not None and second <= 108 else None,
        noise_attack=float(
            rng.uniform(0.3, 0.8) if (plucked and rng.random() < 0.6) or rng.random() < 0.1 else 0.0
        ),
        reverb_rt60=float(rng.uniform(0.8, 2.0) if rng.random() < 0.2 else 0.0),
    )


def note_qualities(spec: NoteSpec) -> list[str]:
    """The NSynth qualities of ``spec`` (sorted): bright if brightness > 0.7, dark if < 0.3,
    distortion if drive > 1, fast_decay if decay < 0.3 s, long_release if release > 0.8 s,
    multiphonic with a second pitch, nonlinear_env with tremolo, percussive with a noisy attack,
    reverb with a reverb tail, tempo-synced with tempo-synced gating."""
    q = {
        "bright": spec.brightness > 0.7,
        "dark": spec.brightness < 0.3,
        "distortion": spec.drive > 1.0,
        "fast_decay": spec.decay < 0.3,
        "long_release": spec.release > 0.8,
        "multiphonic": spec.second_pitch is not None,
        "nonlinear_env": spec.tremolo > 0,
        "percussive": spec.noise_attack > 0,
        "reverb": spec.reverb_rt60 > 0,
        "tempo-synced": spec.tempo_sync > 0,
    }
    return sorted(k for k, on in q.items() if on)


_TABLE = 2048


def _table(amps: np.ndarray) -> np.ndarray:
    """One period of the waveform with harmonic amplitudes ``amps`` (k = 1..len)."""
    phase = np.arange(_TABLE) / _TABLE
    k = np.arange(1, len(amps) + 1)[:, None]
    return (amps[:, None] * np.sin(2 * np.pi * k * phase)).sum(axis=0)


def _osc(table: np.ndarray, freq: np.ndarray | float, n: int) -> np.ndarray:
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    phase = np.cumsum(f) / SR
    return table[((phase - np.floor(phase)) * _TABLE).astype(np.int64) % _TABLE]


def _spectrum(family: str, f0: float, brightness: float) -> np.ndarray:
    count = max(1, min(40, int(7800 / f0)))
    k = np.arange(1, count + 1, dtype=np.float64)
    amps = k ** -(2.2 - 1.6 * brightness)
    if family in ("reed", "synth_lead") and brightness < 0.5:
        amps[1::2] *= 0.15  # clarinet-like: mostly odd harmonics
    if family == "flute":
        amps *= np.exp(-(k - 1) * 0.9)
    if family == "organ":  # drawbars: octave-related partials strong
        amps = np.where(np.isin(k, (1, 2, 3, 4, 6, 8)), 1.0 / np.sqrt(k), amps * 0.1)
    return amps


def _pluck(f0: float, n: int, brightness: float, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong string at exactly ``f0``: run at a rate where the period is a whole number of
    samples, then resample to 16 kHz."""
    period = int(np.ceil(SR / f0))
    rate = f0 * period
    m = int(n * rate / SR) + period
    y = np.zeros(m)
    y[:period] = dsp.spectral_filter(rng.uniform(-1, 1, period * 4), None, 1000 + 7000 * brightness)[:period]
    loss = np.exp(-1 / (decay * f0)) if decay > 0 else 0.999
    for start in range(period, m, period):
        prev = y[start - period : start]
        shifted = y[start - period - 1 : start - 1] if start > period else np.concatenate(([0.0], prev[:-1]))
        end = min(start + period, m)
        y[start:end] = (loss * 0.5 * (prev + shifted))[: end - start]
    return dsp.resample(y, rate, SR)[:n]


def _voice(spec: NoteSpec, pitch: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """The raw oscillator signal of one pitch (no envelope)."""
    f0 = midi_to_hz(pitch)
    method = FAMILIES[spec.family][2]
    t = np.arange(n) / SR
    if method == "pluck":
        return _pluck(f0, n, spec.brightness, max(spec.decay, 0.3), rng)
    if method == "fm":
        ratio = {"keyboard": 1.0, "mallet": 3.5, "brass": 1.0}[spec.family]
        index = (1.0 + 4.0 * spec.brightness) * (
            np.exp(-t / 0.3) if spec.family != "brass" else np.minimum(1, t / 0.08)
        )
        mod = np.sin(2 * np.pi * f0 * ratio * t)
        return np.sin(2 * np.pi * f0 * t + index * mod)
    vibrato = 1 + (0.006 if spec.family in ("string", "flute") else 0.0) * np.sin(2 * np.pi * 5.5 * t)
    sig = _osc(_table(_spectrum(spec.family, f0, spec.brightness)), f0 * vibrato, n)
    if spec.family == "synth_lead":  # two detuned oscillators
        sig = sig + _osc(_table(_spectrum(spec.family, f0, spec.brightness)), f0 * 1.006, n)
    if spec.family == "flute":
        sig = sig + dsp.spectral_filter(rng.standard_normal(n), f0, f0 * 4) * 0.05
    return sig


def render_note(spec: NoteSpec, rng: np.random.Generator, level: bool = True) -> np.ndarray:
    """The note as 16 kHz audio: ``hold + release`` seconds (plus any reverb tail).

    With ``level`` the peak follows the velocity (127 -> 0.9, 25 -> about -24 dB below).
    """
    n_hold, n_rel = int(spec.hold * SR), int(spec.release * SR)
    n = n_hold + n_rel
    sig = _voice(spec, spec.pitch, n, rng)
    if spec.second_pitch is not None:
        sig = sig + 0.7 * _voice(spec, spec.second_pitch, n, rng)
    sig = dsp.normalize(sig, 1.0)
    t = np.arange(n) / SR
    attack = (
        0.002 if spec.noise_attack > 0 or spec.family in ("keyboard", "mallet", "guitar", "bass") else 0.04
    )
    env = np.minimum(1.0, t / attack) * np.exp(-t / spec.decay)
    env[n_hold:] *= np.exp(-(t[n_hold:] - t[n_hold]) / (spec.release / 5))
    if spec.tremolo > 0:
        env *= 1 - spec.tremolo * (0.5 + 0.5 * np.sin(2 * np.pi * spec.tremolo_rate * t))
    if spec.tempo_sync > 0:
        env *= (np.sin(2 * np.pi * spec.tempo_sync * t) >= 0) * 0.85 + 0.15
    sig = sig * env
    if spec.noise_attack > 0:
        k = int(0.03 * SR)
        sig[:k] += spec.noise_attack * rng.standard_normal(k) * np.exp(-np.arange(k) / (0.005 * SR))
    if spec.drive > 1:
        sig = np.tanh(spec.drive * sig) / np.tanh(spec.drive)
    if spec.reverb_rt60 > 0:
        wet = dsp.fft_convolve(sig, dsp.room_impulse(rng, spec.reverb_rt60))
        sig = np.concatenate([sig, np.zeros(len(wet) - len(sig))]) * 0.7 + wet * 0.5
    sig = dsp.normalize(sig, 0.9)
    if level:
        sig *= 10 ** ((spec.velocity - 127) / 127 * 30 / 20)
    return sig
