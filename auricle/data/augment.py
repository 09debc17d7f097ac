"""Seeded waveform augmentation for training: speed (resampling), gain and additive white noise.

Every random choice comes from the generator passed in, which the dataset seeds from the example's
place in the stream, so a run is reproducible and a resumed run augments exactly as before.
Speed changes the duration (and the pitch, like Kaldi's speed perturbation), so word and event
times are scaled with it, and tasks whose target is a pitch are never sped up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import soxr

from auricle.audio.io import SAMPLE_RATE
from auricle.data.manifest import Event, Example, Word
from auricle.errors import ConfigError

#: Tasks whose target would be wrong after a speed (= pitch) change.
SPEED_UNSAFE_TASKS = frozenset({"note_analysis"})


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the augmentations; an empty range switches that augmentation off."""

    prob: float = 0.5
    noise_snr_db: tuple[float, ...] = ()
    speed: tuple[float, ...] = ()
    gain_db: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"data.augment.prob must be in [0, 1], got {self.prob}")
        for name in ("noise_snr_db", "speed", "gain_db"):
            r = getattr(self, name)
            if r and (len(r) != 2 or r[0] > r[1]):
                raise ConfigError(f"data.augment.{name} must be [low, high] with low <= high, got {list(r)}")
        if self.speed and self.speed[0] <= 0:
            raise ConfigError(f"data.augment.speed factors must be > 0, got {list(self.speed)}")

    @property
    def active(self) -> bool:
        """Whether any augmentation can happen."""
        return self.prob > 0 and bool(self.noise_snr_db or self.speed or self.gain_db)


def draw_speed(aug: Augmentation, task: str, rng: np.random.Generator) -> float:
    """The speed factor for one example (1.0 when off, not drawn, or unsafe for the task)."""
    if not aug.speed or task in SPEED_UNSAFE_TASKS or rng.random() >= aug.prob:
        return 1.0
    return float(rng.uniform(aug.speed[0], aug.speed[1]))


def augment_audio(audio: np.ndarray, aug: Augmentation, speed: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` (float32 mono 16 kHz) sped up by ``speed``, then with random gain and noise."""
    x = np.asarray(audio, dtype=np.float32)
    if speed != 1.0 and len(x):
        # play `speed` times faster: treat the samples as if recorded at 16 kHz · speed
        x = soxr.resample(x, SAMPLE_RATE * speed, SAMPLE_RATE).astype(np.float32)
    if aug.gain_db and rng.random() < aug.prob:
        x = x * np.float32(10.0 ** (rng.uniform(*aug.gain_db) / 20.0))
    if aug.noise_snr_db and rng.random() < aug.prob and len(x):
        power = float(np.mean(x.astype(np.float64) ** 2))
        if power > 0:
            snr = rng.uniform(*aug.noise_snr_db)
            noise = rng.standard_normal(len(x)) * np.sqrt(power / 10.0 ** (snr / 10.0))
            x = (x + noise).astype(np.float32)
    return x


def retime_example(example: Example, speed: float) -> Example:
    """A copy of ``example`` with word/event times and duration divided by ``speed``."""
    if speed == 1.0:
        return example
    words = [Word(w.word, w.start / speed, w.end / speed) for w in example.words] if example.words else None
    events = (
        [Event(e.label, e.start / speed, e.end / speed) for e in example.events] if example.events else None
    )
    return dataclasses.replace(example, words=words, events=events, duration=example.duration / speed)
