"""Small signal-processing helpers shared by the synthesisers (numpy + soxr only, all deterministic).

Every signal is a 1-D float64 numpy array at :data:`SAMPLE_RATE` unless a rate is given.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000  # every clip of the corpus is written at this rate
TRIM_FRAME = 32  # 2 ms frames for the energy trim
TRIM_DB = -40.0  # a frame is "sound" when its RMS is within 40 dB of the loudest frame


def resample(x: np.ndarray, sr_in: float, sr_out: float) -> np.ndarray:
    """Resample ``x`` from ``sr_in`` to ``sr_out`` Hz (soxr high quality, deterministic)."""
    if len(x) == 0 or sr_in == sr_out:
        return np.asarray(x, dtype=np.float64)
    return soxr.resample(np.asarray(x, dtype=np.float64), sr_in, sr_out, quality="HQ")


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (duration / factor, pitch and formants x factor)."""
    return resample(x, SAMPLE_RATE * factor, SAMPLE_RATE)


def trim_bounds(x: np.ndarray, threshold_db: float = TRIM_DB, frame: int = TRIM_FRAME) -> tuple[int, int]:
    """Sample range ``[start, end)`` of ``x`` outside its leading/trailing silence.

    Frames of ``frame`` samples are kept from the first to the last one whose RMS is within
    ``threshold_db`` of the loudest frame; inside the edge frames the bound moves to the first/last
    sample whose magnitude reaches that threshold, so the bound is sample accurate.
    """
    n = len(x) // frame
    if n == 0:
        return 0, 0
    frames = x[: n * frame].reshape(n, frame)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    peak = rms.max()
    if peak <= 0:
        return 0, 0
    level = peak * 10 ** (threshold_db / 20)
    loud = np.nonzero(rms >= level)[0]
    first, last = int(loud[0]), int(loud[-1])
    head = np.nonzero(np.abs(frames[first]) >= level)[0]
    tail = np.nonzero(np.abs(frames[last]) >= level)[0]
    start = first * frame + (int(head[0]) if len(head) else 0)
    end = last * frame + (int(tail[-1]) + 1 if len(tail) else frame)
    return start, end


def trim(x: np.ndarray, fade: int = 16) -> np.ndarray:
    """``x`` without leading/trailing silence, with ``fade``-sample ramps so the cut does not click."""
    start, end = trim_bounds(x)
    y = np.array(x[start:end], dtype=np.float64)
    if len(y) > 4 * fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False) ** 2
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    return y


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (0 for an empty array)."""
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def normalize(x: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scale ``x`` so its largest magnitude is ``peak`` (silence stays silence)."""
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    return x * (peak / m) if m > 0 else x


def fast_length(n: int) -> int:
    """The smallest 5-smooth number (only factors 2, 3, 5) >= ``n``: a fast FFT size."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def spectral_filter(x: np.ndarray, lo: float | None, hi: float | None, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Band-pass ``x`` between ``lo`` and ``hi`` Hz with smooth (half-octave) edges, by FFT masking."""
    if len(x) == 0:
        return x
    size = fast_length(len(x))
    spec = np.fft.rfft(x, size)
    f = np.fft.rfftfreq(size, 1 / sr)
    gain = np.ones_like(f)
    with np.errstate(divide="ignore"):
        if lo:
            gain *= np.clip(np.log2(np.maximum(f, 1e-9) / lo) * 2 + 1, 0, 1)
        if hi:
            gain *= np.clip(np.log2(hi / np.maximum(f, 1e-9)) * 2 + 1, 0, 1)
    return np.fft.irfft(spec * gain, size)[: len(x)]


def colored_noise(rng: np.random.Generator, n: int, color: str = "white") -> np.ndarray:
    """Unit-RMS noise of ``n`` samples; ``color`` white, pink (1/f), brown (1/f^2), blue (f) or violet (f^2)."""
    exponents = {"white": 0.0, "pink": -0.5, "brown": -1.0, "blue": 0.5, "violet": 1.0}
    if color not in exponents:
        raise ValueError(f"unknown noise colour {color!r}; valid: {sorted(exponents)}")
    white = rng.standard_normal(fast_length(max(n, 2)))
    if color != "white":
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(len(white))
        f[0] = f[1]
        white = np.fft.irfft(spec * f ** exponents[color], len(white))
    white = white[:n]
    return white / (rms(white) or 1.0)


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full linear convolution of ``x`` and ``h`` through the FFT."""
    n = len(x) + len(h) - 1
    size = fast_length(n)
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def room_impulse(rng: np.random.Generator, rt60: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room impulse response: direct path plus exponentially decaying noise.

    The late tail decays by 60 dB in ``rt60`` seconds; its high band decays twice as fast (air and
    wall absorption), and a few early reflections follow the direct sound.
    """
    n = int(rt60 * sr * 1.2) + 1
    t = np.arange(n) / sr
    tau = rt60 / np.log(1000.0)
    low = spectral_filter(rng.standard_normal(n), None, 2500.0, sr) * np.exp(-t / tau)
    high = spectral_filter(rng.standard_normal(n), 2500.0, None, sr) * np.exp(-2 * t / tau)
    tail = (low + high) * 0.25
    tail[: int(0.003 * sr)] = 0.0
    h = tail
    h[0] = 1.0
    for _ in range(4):
        k = int(rng.uniform(0.004, 0.03) * sr)
        h[k] += rng.uniform(-0.5, 0.5)
    return h / np.sqrt(np.sum(h * h))


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal`` plus ``noise`` scaled so that the signal-to-noise ratio is ``snr_db``."""
    ps, pn = rms(signal), rms(noise)
    if ps == 0 or pn == 0:
        return signal + noise
    return signal + noise * (ps / pn) * 10 ** (-snr_db / 20)


def adsr(
    n: int, attack: float, decay: float, sustain: float, release: float, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Attack-decay-sustain-release envelope of ``n`` samples (times in seconds, release at the end)."""
    a, d, r = (max(1, int(v * sr)) for v in (attack, decay, release))
    env = np.full(n, sustain, dtype=np.float64)
    env[: min(a, n)] = np.linspace(0, 1, a, endpoint=False)[:n]
    if a < n:
        seg = min(d, n - a)
        env[a : a + seg] = (1 - (1 - sustain) * (1 - np.exp(-5 * np.arange(seg) / d)))[:seg]
    r = min(r, n)
    env[n - r :] *= np.linspace(1, 0, r)
    return env


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16 with rounding and clipping."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def flac_bytes(x: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    """``x`` encoded as 16-bit mono FLAC (byte-identical for identical input)."""
    buf = io.BytesIO()
    sf.write(buf, to_pcm16(x), sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def silence(seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``seconds`` of digital silence."""
    return np.zeros(int(round(seconds * sr)), dtype=np.float64)
