"""Helpers for the audio tests: the shared real recordings, synthetic signals, files written with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

REAL_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-audio"
MEL_FILTERS_NPZ = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "qwen-audio-tokenizer" / "mel_filters.npz"
)


def real_audio(name: str) -> Path:
    """Path of a shared real recording; skips the test when the shared data is absent."""
    path = REAL_AUDIO / name
    if not path.is_file():
        pytest.skip(f"shared recording {path} is not available")
    return path


def sine(seconds: float, rate: int = 16000, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine tone."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(audio: np.ndarray, rate: int = 16000) -> float:
    """Frequency of the strongest FFT bin."""
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * rate / len(audio))


def write_with_pyav(
    path: Path, container: str, codec: str, samples: np.ndarray, rate: int, with_video: bool = False
) -> Path:
    """Encode mono float samples into ``path`` with PyAV (optionally next to a tiny black video track)."""
    with av.open(str(path), "w", format=container) as out:
        video = None
        if with_video:
            video = out.add_stream("mpeg4", rate=25)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if samples.size:
            audio = out.add_stream(codec, rate=rate, layout="mono")
            frame = av.AudioFrame.from_ndarray(
                samples[None, :].astype(np.float32), format="flt", layout="mono"
            )
            frame.rate, frame.pts = rate, 0
            for packet in [*audio.encode(frame), *audio.encode(None)]:
                out.mux(packet)
        if video is not None:
            for index in range(10):
                picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                picture.pts = index
                for packet in video.encode(picture):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
    return path
