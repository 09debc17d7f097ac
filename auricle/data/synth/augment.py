"""Per-clip augmentation: noise, scenes, reverb, speed, pitch, gain, telephone band and codec round trips.

:func:`augment` applies a random chain and returns the new audio, a time scale for labels
(``new_time = old_time * time_scale``) and a list of dicts describing each step (stored in the
manifest ``meta["augment"]``). Label times refer to the direct sound: a reverb tail may follow.
"""

from __future__ import annotations

import io

import numpy as np

from auricle.data.synth import dsp
from auricle.data.synth.scenes import SCENES, make_scene

SR = dsp.SAMPLE_RATE
NOISE_COLOURS = ("white", "pink", "brown", "blue")
CODECS = {
    "mp3": ("mp3", "libmp3lame", "s16p"),
    "opus": ("ogg", "libopus", "flt"),
    "aac": ("adts", "aac", "fltp"),
}


def time_stretch(x: np.ndarray, factor: float, frame: int = 512, search: int = 128) -> np.ndarray:
    """WSOLA time stretch: duration x ``factor``, pitch unchanged (overlap-add of Hann frames placed
    where they best continue the output)."""
    hop_out = frame // 2
    hop_in = hop_out / factor
    n_out = int(len(x) * factor)
    window = np.hanning(frame)
    padded = np.concatenate([np.zeros(search), x, np.zeros(frame + search)])
    out = np.zeros(n_out + frame)
    norm = np.zeros(n_out + frame)
    prev_tail = None
    for k in range(n_out // hop_out + 1):
        center = int(k * hop_in) + search
        if prev_tail is None:
            best = center
        else:  # best continuation of the previous frame's second half within +-search samples
            region = padded[center - search : center + search + hop_out]
            corr = np.correlate(region, prev_tail, mode="valid")
            best = center - search + int(np.argmax(corr))
        seg = padded[best : best + frame]
        pos = k * hop_out
        out[pos : pos + frame] += seg * window
        norm[pos : pos + frame] += window
        prev_tail = padded[best + hop_out : best + frame]
    return out[:n_out] / np.maximum(norm[:n_out], 1e-3)


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch (and formants) by ``semitones`` keeping the duration: resample, then time-stretch back."""
    ratio = 2 ** (semitones / 12)
    y = dsp.change_speed(x, ratio)
    return time_stretch(y, len(x) / max(len(y), 1))[: len(x)]


def telephone(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """300-3400 Hz band, 8 kHz sampling and G.711 mu-law quantisation."""
    y = dsp.resample(dsp.spectral_filter(x, 300, 3400), SR, 8000)
    mu = 255.0
    peak = float(np.max(np.abs(y))) or 1.0
    y = y / peak
    code = np.round(np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu) * 127)
    y = np.sign(code) * np.expm1(np.abs(code) / 127 * np.log1p(mu)) / mu * peak
    return dsp.resample(y, 8000, SR)[: len(x)], {
        "type": "telephone",
        "band_hz": [300, 3400],
        "codec": "mu-law",
    }


def codec_round_trip(x: np.ndarray, codec: str, bitrate: int) -> np.ndarray:
    """Encode ``x`` with ``codec`` (mp3, opus, aac) through PyAV and decode it back, aligned to ``x``."""
    import av  # imported on first use (≈ 0.15 s), as in auricle.audio.io

    fmt, encoder, sample_fmt = CODECS[codec]
    rate = SR
    src = dsp.resample(x, SR, rate).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(encoder, rate=rate)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        # fastest encoder settings: the point is the codec's artefacts, not its best quality
        stream.options = {
            "aac": {"aac_coder": "fast"},
            "opus": {"compression_level": "3"},
            "mp3": {"compression_level": "7"},
        }[codec]
        hop = 1024
        for i in range(0, len(src), hop):
            block = src[i : i + hop]
            if sample_fmt == "s16p":
                frame = av.AudioFrame.from_ndarray(dsp.to_pcm16(block)[None, :], format="s16p", layout="mono")
            else:
                frame = av.AudioFrame.from_ndarray(block[None, :], format=sample_fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    decoded, out_rate = [], rate
    with av.open(buf, "r") as inp:
        for frame in inp.decode(audio=0):
            out_rate = frame.sample_rate
            arr = frame.to_ndarray().astype(np.float64)
            if arr.dtype.kind == "i" or frame.format.name.startswith("s16"):
                arr = arr / 32768.0
            decoded.append(arr.mean(axis=0) if arr.ndim == 2 else arr)
    y = dsp.resample(np.concatenate(decoded) if decoded else np.zeros(0), out_rate, SR)
    return _align(y, x)


def _align(y: np.ndarray, ref: np.ndarray, max_lag: int = 4000) -> np.ndarray:
    """``y`` shifted so that it lines up with ``ref`` (codec delay removed), cut or padded to its length."""
    n = len(ref)
    size = 1 << (n + len(y)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.concatenate([corr[: max_lag + 1], corr[-max_lag:]])
    lag_values = np.concatenate([np.arange(max_lag + 1), -np.arange(max_lag, 0, -1)])
    lag = int(lag_values[int(np.argmax(lags))])
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), y])
    return np.concatenate([y, np.zeros(max(0, n - len(y)))])[:n]


def _noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict]:
    if rng.random() < 0.3:
        scene = str(rng.choice(sorted(SCENES)))
        clip = make_scene(rng, scene, n / SR + 0.1)
        return clip.audio[:n], {"source": "scene", "scene": scene}
    colour = str(rng.choice(NOISE_COLOURS))
    return dsp.colored_noise(rng, n, colour), {"source": "noise", "colour": colour}


_PROB = {"codec": 0.15, "telephone": 0.15}  # the slow or drastic ones are rarer


def augment(
    x: np.ndarray, rng: np.random.Generator, allow: frozenset[str] = frozenset()
) -> tuple[np.ndarray, float, list[dict]]:
    """A random chain of the augmentations named in ``allow`` (noise, reverb, speed, pitch, gain,
    telephone, codec); each is taken with probability 0.4 (codec and telephone 0.15; at least one is)."""
    order = [k for k in ("speed", "pitch", "reverb", "noise", "telephone", "codec", "gain") if k in allow]
    if not order:
        return x, 1.0, []
    picked = [k for k in order if rng.random() < _PROB.get(k, 0.4)] or [order[int(rng.integers(len(order)))]]
    if "telephone" in picked and "codec" in picked:
        picked.remove("codec")
    steps: list[dict] = []
    scale = 1.0
    for kind in picked:
        if kind == "speed":
            factor = round(float(rng.uniform(0.9, 1.1)), 3)
            x = dsp.change_speed(x, factor)
            scale /= factor
            steps.append({"type": "speed", "factor": factor})
        elif kind == "pitch":
            semitones = round(float(rng.uniform(-1.5, 1.5)), 2)
            x = pitch_shift(x, semitones)
            steps.append({"type": "pitch", "semitones": semitones})
        elif kind == "reverb":
            rt60 = round(float(rng.uniform(0.2, 1.2)), 2)
            wet = dsp.fft_convolve(x, dsp.room_impulse(rng, rt60))[: len(x) + int(0.3 * SR)]
            x = np.concatenate([x, np.zeros(len(wet) - len(x))]) * 0.6 + wet * 0.5
            steps.append({"type": "reverb", "rt60": rt60})
        elif kind == "noise":
            snr = round(float(rng.uniform(0, 30)), 1)
            noise, info = _noise(rng, len(x))
            x = dsp.mix_at_snr(x, noise, snr)
            steps.append({"type": "noise", "snr_db": snr, **info})
        elif kind == "telephone":
            x, info = telephone(x, rng)
            steps.append(info)
        elif kind == "codec":
            codec = str(rng.choice(sorted(CODECS)))
            bitrate = int(rng.choice([16000, 24000, 32000, 48000]))
            x = codec_round_trip(x, codec, bitrate)
            steps.append({"type": "codec", "codec": codec, "bitrate": bitrate})
        elif kind == "gain":
            db = round(float(rng.uniform(-12, 6)), 1)
            x = x * 10 ** (db / 20)
            steps.append({"type": "gain", "db": db})
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0.99:  # keep it inside the 16-bit range
        x = x * (0.99 / peak)
        steps.append({"type": "limit", "db": round(20 * np.log10(0.99 / peak), 1)})
    return x, scale, steps
