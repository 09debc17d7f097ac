"""split_on_silence: cuts fall in pauses, windows are bounded and tile the audio exactly."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import sine

from auricle.audio.segment import split_on_silence
from auricle.errors import AudioError

RATE = 16000


def bursts_and_pauses(seconds: float, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tone bursts of 1.5-3 s (over faint noise) separated by pauses of 0.25-0.6 s; returns the pauses."""
    rng = np.random.default_rng(seed)
    pieces, pauses, position = [], [], 0
    while position < seconds * RATE:
        burst = sine(rng.uniform(1.5, 3.0), hz=rng.uniform(150, 400), amplitude=0.5)
        gap = np.zeros(int(rng.uniform(0.25, 0.6) * RATE), np.float32)
        pieces += [burst, gap]
        position += burst.size
        pauses.append((position, position + gap.size))
        position += gap.size
    audio = np.concatenate(pieces)
    audio += 1e-4 * rng.standard_normal(audio.size).astype(np.float32)  # a noise floor, not digital silence
    return audio, pauses


def assert_tiles(windows: list[tuple[int, int]], length: int, max_samples: int) -> None:
    assert windows[0][0] == 0 and windows[-1][1] == length
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert end == start
    assert all(0 < end - start <= max_samples for start, end in windows)


@pytest.mark.parametrize("seed", range(4))
def test_cuts_fall_inside_pauses(seed):
    audio, pauses = bursts_and_pauses(150, seed)
    windows = split_on_silence(audio)
    assert len(windows) >= 5
    assert_tiles(windows, audio.size, 30 * RATE)
    for _, cut in windows[:-1]:
        assert any(start <= cut < end for start, end in pauses), (
            f"cut at {cut / RATE:.3f} s is not in a pause"
        )
    assert all(end - start >= 20 * RATE for start, end in windows[:-1])


def test_cut_is_in_the_middle_of_the_last_equally_quiet_pause():
    audio = sine(40.0, hz=220)
    audio[22 * RATE : 23 * RATE] = 0  # an earlier pause
    audio[int(26.0 * RATE) : int(26.5 * RATE)] = 0  # the later one, as quiet: preferred
    windows = split_on_silence(audio)
    assert len(windows) == 2
    assert abs(windows[0][1] - 26.25 * RATE) <= 0.02 * RATE


def test_the_quietest_pause_wins_over_a_later_louder_one():
    audio = sine(40.0, hz=220)
    audio[22 * RATE : 23 * RATE] *= 0.001  # -60 dB
    audio[27 * RATE : 28 * RATE] *= 0.1  # -20 dB: a dip, not the pause
    cut = split_on_silence(audio)[0][1]
    assert 22 * RATE <= cut < 23 * RATE


def test_audio_without_pauses_is_still_tiled():
    audio = 0.1 * np.random.default_rng(1).standard_normal(95 * RATE).astype(np.float32)
    windows = split_on_silence(audio, max_seconds=30, min_seconds=25)
    assert_tiles(windows, audio.size, 30 * RATE)
    assert all(end - start >= 25 * RATE for start, end in windows[:-1])


@pytest.mark.parametrize("seconds", [0.01, 12.0, 30.0])
def test_short_audio_is_one_window(seconds):
    audio = sine(seconds)
    assert split_on_silence(audio) == [(0, audio.size)]


def test_other_limits_and_rates():
    audio, pauses = bursts_and_pauses(60, seed=7)
    windows = split_on_silence(audio, max_seconds=10, min_seconds=5)
    assert_tiles(windows, audio.size, 10 * RATE)
    audio_8k = audio[::2].copy()
    windows_8k = split_on_silence(audio_8k, max_seconds=10, min_seconds=5, sampling_rate=8000)
    assert_tiles(windows_8k, audio_8k.size, 10 * 8000)


def test_errors():
    with pytest.raises(AudioError, match="1-D"):
        split_on_silence(np.zeros((2, 1000), np.float32))
    with pytest.raises(AudioError, match="empty"):
        split_on_silence(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="min_seconds"):
        split_on_silence(sine(1.0), max_seconds=10, min_seconds=10)
    with pytest.raises(AudioError, match="search region"):
        split_on_silence(sine(1.0), max_seconds=10, min_seconds=9.99)
    with pytest.raises(AudioError, match="sampling_rate"):
        split_on_silence(sine(1.0), sampling_rate=0)
