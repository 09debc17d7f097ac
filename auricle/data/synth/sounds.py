"""Synthesised sound events: 28 classes made from tones, noise and simple physical models.

Every generator takes ``(rng, seconds)`` and returns a float array at 16 kHz peaking near 1
(``seconds`` is a target; short sounds such as a knock ignore most of it). :func:`make_event`
returns the sound with its true non-silent extent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from auricle.data.synth import dsp

SR = dsp.SAMPLE_RATE


def _t(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _n(seconds: float) -> int:
    return max(1, int(seconds * SR))


def _ramp(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    k = min(len(x) // 2, _n(seconds))
    if k > 0:
        r = np.linspace(0, 1, k)
        x[:k] *= r
        x[-k:] *= r[::-1]
    return x


def _decay(n: int, tau: float) -> np.ndarray:
    return np.exp(-_t(n) / tau)


def _place_all(pieces: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Mix ``(start seconds, audio)`` pieces into one array."""
    end = max(int(s * SR) + len(p) for s, p in pieces)
    out = np.zeros(end)
    for s, p in pieces:
        k = int(s * SR)
        out[k : k + len(p)] += p
    return out


def _tone(rng, seconds):
    f = rng.uniform(300, 2000)
    return _ramp(np.sin(2 * np.pi * f * _t(_n(min(seconds, rng.uniform(0.3, 1.5))))))


def _sweep(rng, seconds):
    n = _n(min(seconds, rng.uniform(0.5, 2.0)))
    f0, f1 = rng.uniform(200, 800), rng.uniform(1500, 5000)
    if rng.random() < 0.5:
        f0, f1 = f1, f0
    dur = n / SR
    k = f1 / f0
    phase = 2 * np.pi * f0 * dur / np.log(k) * (k ** (_t(n) / dur) - 1)
    return _ramp(np.sin(phase))


def _siren(rng, seconds):
    n = _n(max(1.5, seconds))
    rate = rng.uniform(0.25, 0.5) if rng.random() < 0.5 else rng.uniform(3, 6)  # wail or yelp
    f = rng.uniform(600, 900) + rng.uniform(200, 500) * np.sin(2 * np.pi * rate * _t(n))
    phase = 2 * np.pi * np.cumsum(f) / SR
    return _ramp(np.tanh(2.5 * np.sin(phase)), 0.05)


def _beep_pattern(rng, seconds):
    f, on, off = rng.uniform(800, 3000), rng.uniform(0.06, 0.2), rng.uniform(0.05, 0.25)
    beep = _ramp(np.sin(2 * np.pi * f * _t(_n(on))), 0.005)
    return _place_all([(i * (on + off), beep) for i in range(int(rng.integers(2, 7)))])


def _clicks(rng, seconds):
    count, gap = int(rng.integers(3, 12)), rng.uniform(0.08, 0.4)
    click = rng.standard_normal(_n(0.004)) * _decay(_n(0.004), 0.001)
    click = dsp.spectral_filter(click, 1500, None)
    return _place_all([(i * gap * rng.uniform(0.8, 1.2), click) for i in range(count)])


def _knock(rng, seconds):
    f1, f2 = rng.uniform(120, 260), rng.uniform(300, 600)
    n = _n(0.15)
    one = np.sin(2 * np.pi * f1 * _t(n)) * _decay(n, 0.03) + 0.5 * np.sin(2 * np.pi * f2 * _t(n)) * _decay(
        n, 0.015
    )
    one[: _n(0.003)] += rng.standard_normal(_n(0.003)) * 0.8
    gap = rng.uniform(0.15, 0.3)
    return _place_all([(i * gap, one) for i in range(int(rng.integers(2, 5)))])


def _noise_burst(color: str) -> Callable:
    def make(rng, seconds):
        return _ramp(dsp.colored_noise(rng, _n(min(seconds, rng.uniform(0.5, 2.5))), color) * 0.3, 0.05)

    return make


def _engine(rng, seconds):
    n = _n(max(2.0, seconds))
    t = _t(n)
    f0 = rng.uniform(25, 60) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 8))
    rumble = dsp.spectral_filter(dsp.colored_noise(rng, n, "brown"), None, 500) * (1 + 0.5 * np.sin(phase))
    return _ramp(harmonics * 0.5 + rumble * 0.5, 0.3)


def _rain(rng, seconds):
    n = _n(max(2.0, seconds))
    drops = np.zeros(n)
    idx = rng.integers(0, n, size=int(n / SR * rng.uniform(80, 300)))
    drops[idx] = rng.standard_normal(len(idx))
    drops = dsp.spectral_filter(drops, 1000, 7000)
    hiss = dsp.spectral_filter(dsp.colored_noise(rng, n, "pink"), 500, None) * 0.3
    return _ramp(drops / (np.max(np.abs(drops)) or 1) + hiss, 0.3)


def _alarm(rng, seconds):
    n = _n(max(1.0, min(seconds, 4.0)))
    t = _t(n)
    fa, fb, rate = rng.uniform(600, 900), rng.uniform(1000, 1400), rng.uniform(2, 6)
    f = np.where(np.sin(2 * np.pi * rate * t) >= 0, fa, fb)
    return _ramp(np.sign(np.sin(2 * np.pi * np.cumsum(f) / SR)) * 0.5)


def _bell(rng, seconds):
    n = _n(rng.uniform(1.5, 3.0))
    f = rng.uniform(300, 1200)
    ratios, decays = (1.0, 2.0, 2.4, 3.0, 4.2, 5.4), (1.2, 0.8, 0.6, 0.4, 0.25, 0.15)
    return sum(
        np.sin(2 * np.pi * f * r * _t(n)) * _decay(n, d) / (i + 1)
        for i, (r, d) in enumerate(zip(ratios, decays))
    )


def _whistle(rng, seconds):
    n = _n(min(seconds, rng.uniform(0.4, 1.5)))
    t = _t(n)
    f = rng.uniform(1500, 3000) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    pure = np.sin(2 * np.pi * np.cumsum(f) / SR)
    breath = dsp.spectral_filter(dsp.colored_noise(rng, n), 1200, 4000) * 0.15
    return _ramp(pure + breath, 0.03)


def _dog_bark(rng, seconds):
    def one():
        n = _n(rng.uniform(0.12, 0.25))
        f0 = np.linspace(rng.uniform(450, 650), rng.uniform(250, 350), n)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        source = sum(np.sin(k * phase) / k for k in range(1, 15)) + 0.3 * rng.standard_normal(n)
        voiced = dsp.spectral_filter(source, 400, 2500)
        env = np.minimum(1, _t(n) / 0.01) * _decay(n, n / SR / 2.5)
        return voiced * env

    gap = rng.uniform(0.25, 0.45)
    return _place_all([(i * gap, one()) for i in range(int(rng.integers(1, 4)))])


def _footsteps(rng, seconds):
    period = 1 / rng.uniform(1.5, 2.2)
    count = max(2, int(min(seconds, 4.0) / period))
    n = _n(0.06)

    def step():
        return dsp.spectral_filter(rng.standard_normal(n), 60, 1200) * _decay(n, 0.015)

    return _place_all([(i * period * rng.uniform(0.95, 1.05), step()) for i in range(count)])


def _phone_ring(rng, seconds):
    n = _n(0.4)
    ring = (np.sin(2 * np.pi * 440 * _t(n)) + np.sin(2 * np.pi * 480 * _t(n))) * 0.5
    ring *= 0.6 + 0.4 * np.sign(np.sin(2 * np.pi * 20 * _t(n)))  # the ringer's warble
    ring = _ramp(ring)
    pieces = [(k * 2.4 + j * 0.6, ring) for k in range(int(rng.integers(1, 3))) for j in range(2)]
    return _place_all(pieces)


def _applause(rng, seconds):
    n = _n(max(1.5, min(seconds, 4.0)))
    claps = np.zeros(n)
    idx = rng.integers(0, n, size=int(n / SR * rng.uniform(30, 80)))
    claps[idx] = rng.uniform(0.5, 1.0, len(idx))
    claps = dsp.fft_convolve(claps, rng.standard_normal(_n(0.01)) * _decay(_n(0.01), 0.003))[:n]
    return _ramp(dsp.spectral_filter(claps, 800, 5000), 0.2)


def _wind(rng, seconds):
    n = _n(max(2.0, seconds))
    gust = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * _t(n) + rng.uniform(0, 6))
    lo = rng.uniform(150, 400)
    return _ramp(dsp.spectral_filter(dsp.colored_noise(rng, n, "pink"), lo, lo * 4) * gust, 0.4)


def _water_drip(rng, seconds):
    def plink():
        n = _n(0.08)
        f = np.linspace(rng.uniform(600, 1200), rng.uniform(1500, 2500), n)
        return np.sin(2 * np.pi * np.cumsum(f) / SR) * _decay(n, 0.02)

    times = np.cumsum(rng.uniform(0.2, 0.7, int(rng.integers(2, 7))))
    return _place_all([(float(s), plink()) for s in times])


def _car_horn(rng, seconds):
    n = _n(rng.uniform(0.3, 1.0))
    base = rng.uniform(350, 450)
    horn = np.tanh(3 * (np.sin(2 * np.pi * base * _t(n)) + np.sin(2 * np.pi * base * 1.25 * _t(n))))
    return _ramp(dsp.spectral_filter(horn, 200, 4000), 0.02)


def _bird_chirp(rng, seconds):
    def chirp():
        n = _n(rng.uniform(0.04, 0.12))
        f = np.linspace(rng.uniform(2500, 5000), rng.uniform(2000, 6000), n)
        return _ramp(np.sin(2 * np.pi * np.cumsum(f) / SR), 0.005)

    times = np.cumsum(rng.uniform(0.08, 0.3, int(rng.integers(3, 10))))
    return _place_all([(float(s), chirp()) for s in times])


def _heartbeat(rng, seconds):
    period = 60 / rng.uniform(60, 90)
    n = _n(0.12)

    def thump(f):
        return np.sin(2 * np.pi * f * _t(n)) * _decay(n, 0.03)

    count = max(2, int(min(seconds, 5.0) / period))
    return _place_all([(i * period + d, thump(f)) for i in range(count) for d, f in ((0, 55), (0.28, 70))])


def _glass_clink(rng, seconds):
    n = _n(0.5)
    f = rng.uniform(2000, 3500)
    return sum(
        np.sin(2 * np.pi * f * r * _t(n)) * _decay(n, d) for r, d in ((1, 0.12), (1.58, 0.08), (2.3, 0.05))
    )


def _typing(rng, seconds):
    count = int(min(seconds, 4.0) * rng.uniform(6, 12))
    n = _n(0.015)
    times = np.cumsum(rng.uniform(0.05, 0.2, count))

    def key():
        return dsp.spectral_filter(rng.standard_normal(n), 2000, 6000) * _decay(n, 0.003)

    return _place_all([(float(s), key()) for s in times])


def _buzzer(rng, seconds):
    n = _n(rng.uniform(0.5, 1.5))
    f = rng.uniform(100, 220)
    return _ramp(np.sign(np.sin(2 * np.pi * f * _t(n))) * 0.5)


def _door_slam(rng, seconds):
    n = _n(0.6)
    thud = np.sin(2 * np.pi * rng.uniform(60, 110) * _t(n)) * _decay(n, 0.08)
    crack = dsp.spectral_filter(rng.standard_normal(n), 500, None) * _decay(n, 0.01)
    return thud + crack * 0.7


def _thunder(rng, seconds):
    n = _n(rng.uniform(2.0, 4.0))
    rumble = dsp.spectral_filter(dsp.colored_noise(rng, n, "brown"), 20, 300)
    env = np.minimum(1, _t(n) / 0.05) * _decay(n, n / SR / 3) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * _t(n)))
    return rumble * env


# label -> (generator, caption noun phrase)
EVENT_CLASSES: dict[str, tuple[Callable, str]] = {
    "tone": (_tone, "a steady electronic tone"),
    "sweep": (_sweep, "a tone sweeping in pitch"),
    "siren": (_siren, "a siren wailing"),
    "beeping": (_beep_pattern, "a series of short beeps"),
    "clicking": (_clicks, "rapid clicking"),
    "knock": (_knock, "someone knocking"),
    "white noise": (_noise_burst("white"), "a burst of white noise"),
    "pink noise": (_noise_burst("pink"), "a burst of pink noise"),
    "brown noise": (_noise_burst("brown"), "a deep rumbling noise"),
    "engine": (_engine, "an engine running"),
    "rain": (_rain, "rain falling"),
    "alarm": (_alarm, "an alarm going off"),
    "bell": (_bell, "a bell ringing"),
    "whistle": (_whistle, "someone whistling"),
    "dog bark": (_dog_bark, "a dog barking"),
    "footsteps": (_footsteps, "footsteps"),
    "telephone ring": (_phone_ring, "a telephone ringing"),
    "applause": (_applause, "people applauding"),
    "wind": (_wind, "wind blowing"),
    "water drip": (_water_drip, "water dripping"),
    "car horn": (_car_horn, "a car horn honking"),
    "bird chirp": (_bird_chirp, "a bird chirping"),
    "heartbeat": (_heartbeat, "a heartbeat"),
    "glass clink": (_glass_clink, "glass clinking"),
    "typing": (_typing, "someone typing on a keyboard"),
    "buzzer": (_buzzer, "a harsh buzzer"),
    "door slam": (_door_slam, "a door slamming"),
    "thunder": (_thunder, "thunder rumbling"),
}


def make_event(rng: np.random.Generator, label: str, seconds: float = 2.0) -> tuple[np.ndarray, int, int]:
    """The sound of class ``label`` (peak 1) and its non-silent sample range ``(start, end)``."""
    if label not in EVENT_CLASSES:
        raise ValueError(f"unknown sound event {label!r}; valid: {sorted(EVENT_CLASSES)}")
    audio = dsp.normalize(np.asarray(EVENT_CLASSES[label][0](rng, seconds), dtype=np.float64), 1.0)
    start, end = dsp.trim_bounds(audio)
    return audio, start, end
