"""Split long audio into windows of at most 30 s, cutting in pauses.

The encoder sees at most 30 s at a time. For transcription and translation of longer recordings each
window is processed on its own and the texts are joined with time offsets, so a cut through a word
damages it twice. :func:`split_on_silence` therefore ends each window at the quietest moment it can
find near the end of the allowed length: the short-time energy is measured over 25 ms frames every
10 ms, and the cut goes into the middle of the last stretch whose energy is within 3 dB of the
quietest frame of the search region.
"""

from __future__ import annotations

import numpy as np

from auricle.audio.io import SAMPLE_RATE
from auricle.errors import AudioError

FRAME_SECONDS = 0.025  # energy window: about one pitch period of low voices to a few, shorter than a pause
HOP_SECONDS = 0.010  # resolution of the cut
QUIET_MARGIN_DB = 3.0  # frames this close to the quietest count as part of the same pause


def split_on_silence(
    audio: np.ndarray,
    max_seconds: float = 30.0,
    min_seconds: float = 20.0,
    *,
    sampling_rate: int = SAMPLE_RATE,
) -> list[tuple[int, int]]:
    """Cut ``audio`` into consecutive windows ``(start, end)`` (sample indices, end exclusive).

    The windows cover the audio exactly once, in order, with no gaps or overlaps; each is at most
    ``max_seconds`` long, and each but the last is at least ``min_seconds`` long. Audio no longer
    than ``max_seconds`` gives the single window ``(0, len(audio))``.

    Each cut is chosen in the search region from ``min_seconds`` to ``max_seconds`` after the start
    of its window: frames of 25 ms every 10 ms are scored by mean squared amplitude; among the frames
    within 3 dB of the quietest one, the last run of consecutive frames is taken (the latest pause
    that is as quiet as the best one, which keeps windows long), and the cut falls in its middle.

    Args:
        audio: 1-D mono samples.
        max_seconds: longest window (30 s is what the encoder accepts).
        min_seconds: shortest window before the last; ``max_seconds - min_seconds`` is the search
            region. A wider region finds real pauses more surely, at the cost of more windows.
        sampling_rate: rate of ``audio`` in Hz.

    Returns:
        The windows as a list of ``(start, end)`` pairs.

    Raises:
        AudioError: ``audio`` is not 1-D or is empty, or the lengths are inconsistent.

    Example:
        >>> windows = split_on_silence(audio)          # audio: 16 kHz mono, e.g. 95 s long
        >>> texts = [transcribe(audio[s:e]) for s, e in windows]
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"split_on_silence needs 1-D mono samples; got shape {audio.shape}. Down-mix first.")
    if audio.size == 0:
        raise AudioError("split_on_silence got empty audio (0 samples).")
    if not 0 < min_seconds < max_seconds:
        raise AudioError(
            f"Need 0 < min_seconds < max_seconds; got min_seconds={min_seconds}, max_seconds={max_seconds}."
        )
    if not sampling_rate > 0:
        raise AudioError(f"sampling_rate must be positive; got {sampling_rate}.")

    longest = int(max_seconds * sampling_rate)
    shortest = int(min_seconds * sampling_rate)
    frame = max(1, round(FRAME_SECONDS * sampling_rate))
    hop = max(1, round(HOP_SECONDS * sampling_rate))
    if longest - shortest < frame:
        raise AudioError(
            f"The search region max_seconds - min_seconds = {max_seconds - min_seconds} s is shorter than one "
            f"{FRAME_SECONDS * 1000:.0f} ms energy frame; widen it."
        )

    windows = []
    start = 0
    while audio.size - start > longest:
        region_start = start + shortest
        cut = region_start + _quietest_point(audio[region_start : start + longest], frame, hop)
        windows.append((start, cut))
        start = cut
    windows.append((start, int(audio.size)))
    return windows


def _quietest_point(region: np.ndarray, frame: int, hop: int) -> int:
    """Offset in ``region`` of the middle of its last pause as quiet as its quietest frame (±3 dB)."""
    frames = np.lib.stride_tricks.sliding_window_view(region, frame)[::hop]
    energy = np.mean(np.square(frames, dtype=np.float64), axis=1)
    threshold = energy.min() * 10 ** (QUIET_MARGIN_DB / 10)
    quiet = np.flatnonzero(energy <= threshold)
    # The last run of consecutive quiet frames: walk back from the last quiet frame while contiguous.
    breaks = np.flatnonzero(np.diff(quiet) != 1)
    run_start = quiet[breaks[-1] + 1] if breaks.size else quiet[0]
    run_end = quiet[-1]
    middle_frame = (run_start + run_end) // 2
    return int(middle_frame * hop + frame // 2)
