"""Whisper / Qwen-Audio log-mel features, computed batched in torch, and the audio-length arithmetic.

The recipe (spec §2.2) is the one both Qwen-Audio (v1, 80 mels) and Qwen2-Audio (v2, 128 mels) use:
periodic Hann window of 400 samples, hop 160, centred frames with reflect padding, the last STFT frame
dropped, power spectrum ``|X|²``, Slaney mel filters (0-8 kHz, Slaney area normalisation),
``log10(max(mel, 1e-10))``, a floor at the item's maximum minus 8, then ``(x + 4) / 4``.

Unlike the references this module does not pad every item to 30 s; see :func:`log_mel` for why the
frames it returns are nevertheless the reference's frames.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from auricle.audio.io import SAMPLE_RATE
from auricle.errors import AudioError, ConfigError

N_FFT = 400  # 25 ms analysis window
HOP_LENGTH = 160  # 10 ms between frames
CHUNK_SECONDS = 30  # the encoder sees at most 30 s of audio
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000 samples in a 30 s chunk
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a 30 s chunk
N_FREQS = N_FFT // 2 + 1  # 201 frequency bins of the one-sided spectrum
TAIL_SAMPLES = 800  # zeros kept after the longest item; see log_mel
LOG_FLOOR = 1e-10  # mel power floor before log10

_PAD = N_FFT // 2  # reflect padding on each side (torch.stft center=True)
_ROUNDING_RULES = ("floor", "ceil")
_CPU_CHUNK_FRAMES = 2048  # frames per FFT call on CPU: a few MB, cache-resident, yet few thread syncs
_GPU_CHUNK_FRAMES = 1 << 16  # on a GPU, few large calls; this only bounds the scratch memory
_MIN_SILENT_FRAMES = 256  # silent tails at least this long are filled with the floor, not transformed


# ------------------------------------------------------------------------------------------ mel filters


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * 200.0 / 3.0
    log_part = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel >= 15.0, log_part, linear)


def _slaney_mel_filters(n_mels: int) -> np.ndarray:
    """Triangular filters [n_mels, 201] (float64), equally spaced in Slaney mels from 0 to 8 kHz.

    Each filter rises from its lower edge to its centre and falls to its upper edge (the centres of
    its neighbours) and is scaled by 2 / (upper − lower) so that every filter has the same area.
    """
    bin_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FREQS)  # 0, 40, ..., 8000 Hz
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz - lower) / (centre - lower)
    falling = (upper - bin_hz) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return triangles * (2.0 / (upper - lower))


@functools.lru_cache(maxsize=16)
def _cached_filters(n_mels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(_slaney_mel_filters(n_mels)).to(device=device, dtype=dtype)


def mel_filters(
    n_mels: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The Slaney mel filter bank, shape ``[n_mels, 201]``, computed here (no data file is shipped).

    It equals transformers' ``mel_filter_bank(..., norm="slaney", mel_scale="slaney")`` transposed
    (exactly, in float64) and ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)``, whose 80-bin
    output Qwen-Audio ships as ``mel_filters.npz``, to one float32 rounding (max difference 1.9e-9).
    The result is cached per ``(n_mels, device, dtype)``; treat it as read-only.

    Args:
        n_mels: number of filters: 80 for Qwen-Audio (v1), 128 for Qwen2-Audio (v2).
        device: where the tensor lives (default CPU).
        dtype: floating dtype of the tensor.
    """
    _check_n_mels(n_mels)
    return _cached_filters(n_mels, torch.device(device or "cpu"), dtype)


_MEL_BANDS = 4  # the filter bank is 97% zeros: 4 bands of neighbouring filters cut the mel matmul ~4.4x


@functools.lru_cache(maxsize=16)
def _mel_bands(n_mels: int, device: torch.device) -> list[tuple[int, int, int, int, torch.Tensor]]:
    """Split the filter bank into bands of neighbouring filters, each applied only to the bins it covers.

    Returns ``(first_filter, end_filter, first_column, end_column, weights)`` per band, where the
    columns index ``view_as_real(X)`` (re, im interleaved: 2 columns per bin) and ``weights`` is
    ``[end_column - first_column, end_filter - first_filter]`` with each filter row repeated for re and
    im, so that ``view_as_real(X)[:, columns]² @ weights`` sums ``|X|²`` under each filter. The band
    boundaries minimise the multiply count by dynamic programming over the filters' bin ranges.
    """
    filters = _slaney_mel_filters(n_mels)
    nonzero = filters > 0
    low = nonzero.argmax(axis=1)  # first bin of each filter
    high = N_FREQS - nonzero[:, ::-1].argmax(axis=1)  # one past its last bin
    bands = min(_MEL_BANDS, n_mels)
    # cost[k][j]: fewest multiplies covering filters [0, j) with k bands; cut[k][j]: start of the last band
    cost = [[math.inf] * (n_mels + 1) for _ in range(bands + 1)]
    cut = [[0] * (n_mels + 1) for _ in range(bands + 1)]
    cost[0][0] = 0
    for k in range(1, bands + 1):
        for j in range(1, n_mels + 1):
            for i in range(k - 1, j):
                candidate = cost[k - 1][i] + (j - i) * max(0, high[j - 1] - low[i])
                if candidate < cost[k][j]:
                    cost[k][j], cut[k][j] = candidate, i
    ends = [n_mels]
    for k in range(bands, 0, -1):
        ends.append(cut[k][ends[-1]])
    ends.reverse()
    weights = mel_filters(n_mels, device=device).T.repeat_interleave(2, dim=0)  # [402, n_mels]
    result = []
    for first, end in zip(ends[:-1], ends[1:]):
        lo, hi = 2 * int(low[first:end].min()), 2 * int(high[first:end].max())
        result.append((first, end, lo, hi, weights[lo:hi, first:end].contiguous()))
    return result


def _check_n_mels(n_mels: int) -> None:
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or not 1 <= n_mels <= N_FREQS:
        raise ConfigError(
            f"n_mels must be an integer from 1 to {N_FREQS} (80 for Qwen-Audio, 128 for Qwen2-Audio); "
            f"got {n_mels!r}."
        )


# --------------------------------------------------------------------------------------- length rules


@dataclass(frozen=True)
class AudioLengths:
    """How many positions an audio occupies at each stage of the model.

    Fields are ints for an int input and integer tensors for a tensor input.

    Attributes:
        mel_frames: mel frames the model counts as real (``M``).
        encoder_frames: positions after the encoder's two convolutions, ``(M - 1) // 2 + 1`` (``C``).
        audio_tokens: embeddings after the stride-2 average pool, ``(C - 2) // 2 + 1`` (``N``); these
            are the audio positions in the LLM prompt (v1 adds its two boundary embeddings); with ``stack`` k,
            ``ceil(N / k)``.
    """

    mel_frames: int | torch.Tensor
    encoder_frames: int | torch.Tensor
    audio_tokens: int | torch.Tensor


def frames_for(num_samples: int | torch.Tensor, rule: str = "floor") -> int | torch.Tensor:
    """Mel frames the model counts for ``num_samples`` samples at 16 kHz (audio past 30 s is dropped).

    With ``L' = min(num_samples, 480000)``: rule ``"floor"`` (Qwen-Audio, v1) gives ``L' // 160``;
    rule ``"ceil"`` (Qwen2-Audio, v2, which counts a sample-level mask subsampled every 160 samples)
    gives ``ceil(L' / 160)``. Accepts an int or an integer tensor of lengths.
    """
    if rule not in _ROUNDING_RULES:
        raise ConfigError(
            f"Unknown frame-count rule {rule!r}; use 'floor' (Qwen-Audio, v1) or 'ceil' (Qwen2-Audio, v2)."
        )
    if isinstance(num_samples, torch.Tensor):
        if num_samples.is_floating_point() or num_samples.is_complex():
            raise AudioError(f"Sample counts must be an integer tensor; got dtype {num_samples.dtype}.")
        if bool((num_samples < 0).any()):
            raise AudioError("Sample counts must be zero or positive; the tensor holds negative values.")
        clipped = num_samples.clamp(max=N_SAMPLES)
    else:
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
            raise AudioError(f"A sample count must be a non-negative integer; got {num_samples!r}.")
        clipped = min(int(num_samples), N_SAMPLES)
    return clipped // HOP_LENGTH if rule == "floor" else -(-clipped // HOP_LENGTH)


def audio_token_count(num_samples: int | torch.Tensor, rule: str = "floor", stack: int = 1) -> AudioLengths:
    """The one implementation of the audio-length arithmetic (spec §2.5): samples → frames → tokens.

    ``M = frames_for(num_samples, rule)``, ``C = (M − 1) // 2 + 1`` (conv1 keeps the length, conv2 has
    kernel 3, stride 2, padding 1), ``N = (C − 2) // 2 + 1`` (average pool, kernel 2, stride 2), all
    with floor division. Examples (rule ``"floor"`` / ``"ceil"``): 1 s (16000) → 100/50/25 both;
    16321 samples → 102/51/25 vs 103/52/26; 30 s or more → 3000/1500/750.

    Small inputs follow the same formulas: one frame gives ``C = 1``, ``N = 0`` (an audio too short for
    one pooled embedding), and 0 samples give zeros everywhere rather than an error, so that lengths
    can be computed for any batch slot. Negative counts raise :class:`AudioError`.

    Args:
        num_samples: the number of 16 kHz samples, as an int or an integer tensor of lengths.
        rule: ``"floor"`` for Qwen-Audio (v1), ``"ceil"`` for Qwen2-Audio (v2).
        stack: the encoder's ``stack`` (auricle's own option, 1 for both official families): that many
            pooled states make one token, ``ceil(N / stack)``.

    Returns:
        :class:`AudioLengths` with ints, or tensors shaped like ``num_samples``.
    """
    mel = frames_for(num_samples, rule)
    encoder = (mel - 1) // 2 + 1
    tokens = (encoder - 2) // 2 + 1
    if stack != 1:
        tokens = -(-tokens // stack)
    return AudioLengths(mel_frames=mel, encoder_frames=encoder, audio_tokens=tokens)


# ------------------------------------------------------------------------------------------- features


@dataclass(frozen=True)
class MelBatch:
    """Log-mel features of a batch of audios.

    Attributes:
        features: float32 ``[B, n_mels, T]``; frame ``t`` of item ``b`` equals frame ``t`` of the
            reference features of that item alone padded to 30 s.
        num_samples: int64 ``[B]`` on the CPU, the length of each audio after truncation to 30 s
            (480000 samples). Feed it to :func:`audio_token_count` for the frame and token counts.
    """

    features: torch.Tensor
    num_samples: torch.Tensor


AudioBatch = Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor


def log_mel(
    audios: AudioBatch,
    n_mels: int = 80,
    *,
    lengths: torch.Tensor | Sequence[int] | None = None,
    device: torch.device | str | None = None,
    pad_to_30s: bool = False,
) -> MelBatch:
    """Whisper / Qwen-Audio log-mel features of a batch, on CPU or CUDA.

    Every audio is truncated to its first 30 s (480000 samples) and the items are zero-padded to a
    common length ``P``: 480000 if ``pad_to_30s``, else ``min(480000, 160 * ceil(L_max / 160) + 800)``
    with ``L_max`` the longest (truncated) item. The result has ``T = P // 160`` frames per item.

    Why the shorter padding gives the reference's frames: the references zero-pad every item to 30 s.
    Frame ``t`` reads samples ``160 t − 200 … 160 t + 199``; for ``t < T`` these lie before
    ``P + 40``, and from ``L_max`` on, both our input (at least 800 zeros, then the end reflection of
    those zeros) and the reference's input are zero, so every returned frame is computed from the same
    samples. In particular the frames just past each item's end, up to index ``M + 2`` for ``M`` counted
    frames, which the encoder's convolutions read, are all included. The floor at "item maximum − 8"
    also agrees: the reference's extra frames are all-zero, whose value ``log10(1e-10) = −10`` is the
    lowest possible, and one such frame is already among ours, so both maxima are the same.

    Args:
        audios: a list of 1-D float arrays or tensors at 16 kHz, or a ``[B, S]`` array or tensor (a
            single 1-D audio is treated as a batch of one).
        n_mels: 80 (Qwen-Audio, v1) or 128 (Qwen2-Audio, v2).
        lengths: with a ``[B, S]`` input, the real length of each row (default: all ``S``); samples past
            a row's length are ignored.
        device: where to compute and return the features (default: the input tensor's device, else CPU).
        pad_to_30s: pad every item to 30 s and return 3000 frames, exactly like the references.

    Returns:
        :class:`MelBatch` with ``features`` float32 ``[B, n_mels, T]`` and ``num_samples`` ``[B]``.

    Raises:
        AudioError: an audio is not 1-D, not floating point, or contains NaN/inf; lengths are invalid.
        ConfigError: ``n_mels`` is out of range.
    """
    _check_n_mels(n_mels)
    rows, num_samples, device = _collect(audios, lengths, device)
    longest = int(num_samples.max())
    padded = (
        N_SAMPLES
        if pad_to_30s
        else min(N_SAMPLES, HOP_LENGTH * math.ceil(longest / HOP_LENGTH) + TAIL_SAMPLES)
    )
    signal = _reflect_padded_rows(rows, padded, device)
    features = _log_mel_of_padded(signal, num_samples, padded // HOP_LENGTH, n_mels)
    return MelBatch(features=features, num_samples=num_samples)


def _collect(
    audios: AudioBatch, lengths: torch.Tensor | Sequence[int] | None, device: torch.device | str | None
) -> tuple[list[torch.Tensor], torch.Tensor, torch.device]:
    """Validate the input and return one float32 1-D tensor per item (truncated to 30 s) and lengths."""
    if isinstance(audios, (np.ndarray, torch.Tensor)):
        batch = _as_tensor(audios)
        if batch.dim() == 1:
            batch = batch[None]
        if batch.dim() != 2:
            raise AudioError(
                f"An audio batch tensor must be [B, S] (or one 1-D audio); got shape {tuple(batch.shape)}."
            )
        items = list(batch)
        if lengths is not None:
            given = torch.as_tensor(lengths).tolist()
            valid = len(given) == len(items) and all(
                isinstance(n, int) and 0 <= n <= batch.shape[1] for n in given
            )
            if not valid:
                raise AudioError(
                    f"lengths must hold {len(items)} values between 0 and {batch.shape[1]} (the row length); got {given}."
                )
            items = [row[:n] for row, n in zip(items, given)]
    else:
        if lengths is not None:
            raise AudioError(
                "lengths is only for a [B, S] batch tensor; a list of audios carries its own lengths."
            )
        items = [_as_tensor(item) for item in audios]
    if not items:
        raise AudioError("log_mel needs at least one audio; the batch is empty.")
    target = torch.device(device) if device is not None else items[0].device
    rows = []
    for index, item in enumerate(items):
        if item.dim() != 1:
            raise AudioError(
                f"Audio {index} has shape {tuple(item.shape)}; each audio must be 1-D mono samples at 16 kHz "
                "(use auricle.audio.load_audio to decode and down-mix)."
            )
        if not item.is_floating_point():
            raise AudioError(
                f"Audio {index} has dtype {item.dtype}; give float samples in [-1, 1] (load_audio converts PCM)."
            )
        rows.append(item[:N_SAMPLES])
    num_samples = torch.tensor([row.shape[0] for row in rows], dtype=torch.int64)
    return rows, num_samples, target


def _as_tensor(audio: np.ndarray | torch.Tensor | Sequence[float]) -> torch.Tensor:
    if isinstance(audio, np.ndarray):  # torch cannot view arrays with negative strides
        return torch.from_numpy(np.ascontiguousarray(audio))
    return torch.as_tensor(audio)


def _reflect_padded_rows(rows: list[torch.Tensor], padded: int, device: torch.device) -> torch.Tensor:
    """[B, 160 (T + 3)] float32: each item zero-padded to ``padded`` samples, reflect-padded by 200 on
    both sides (as torch.stft center=True), then zero-filled to a whole number of hops so that the
    frames of all items form one evenly strided sequence over the flattened buffer."""
    width = padded + 3 * HOP_LENGTH  # = padded + 2 * 200 + 80
    signal = torch.empty(len(rows), width, dtype=torch.float32, device=device)
    for index, row in enumerate(rows):
        signal[index, _PAD : _PAD + row.shape[0]].copy_(row)
        signal[index, _PAD + row.shape[0] :].zero_()
    signal[:, :_PAD] = signal[:, _PAD + 1 : 2 * _PAD + 1].flip(-1)
    signal[:, _PAD + padded : 2 * _PAD + padded] = signal[:, padded - 1 : padded + _PAD - 1].flip(-1)
    return signal


def _log_mel_of_padded(
    signal: torch.Tensor, num_samples: torch.Tensor, frames: int, n_mels: int
) -> torch.Tensor:
    """Log-mel [B, n_mels, frames] of the rows built by :func:`_reflect_padded_rows`."""
    batch, width = signal.shape
    stride = width // HOP_LENGTH  # frame slots per item: ``frames`` real ones and 3 unused
    # Frame g of the flat buffer starts at sample 160 g: item b's frame t is g = b * stride + t.
    total = (batch - 1) * stride + frames
    framed = signal.view(-1).as_strided((total, N_FFT), (HOP_LENGTH, 1))
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32, device=signal.device)
    bands = _mel_bands(n_mels, signal.device)
    log_spec = torch.empty(batch * stride, n_mels, dtype=torch.float32, device=signal.device)
    silent = torch.tensor(LOG_FLOOR, dtype=torch.float32).log10().item()

    chunk = _CPU_CHUNK_FRAMES if signal.device.type == "cpu" else _GPU_CHUNK_FRAMES
    windowed = torch.empty(min(chunk, total), N_FFT, dtype=torch.float32, device=signal.device)
    for start, stop, active in _frame_ranges(num_samples, frames, stride, frames * HOP_LENGTH, chunk):
        if not active:  # every sample of these frames is zero: the log-mel is the floor
            log_spec[start:stop] = silent
            continue
        part = torch.mul(framed[start:stop], window, out=windowed[: stop - start])
        power = torch.view_as_real(torch.fft.rfft(part)).view(stop - start, 2 * N_FREQS)
        power.square_()
        block = log_spec[start:stop]
        for first, end, lo, hi, weights in bands:
            torch.matmul(power[:, lo:hi], weights, out=block[:, first:end])
        block.clamp_(min=LOG_FLOOR).log10_()

    # Few large operations from here on: each is one synchronisation of the CPU threads.
    items = log_spec.view(batch, stride, n_mels)[:, :frames]  # [B, T, n_mels]
    peak = items.amax(dim=(1, 2))
    if not bool(torch.isfinite(peak).all()):
        bad = torch.nonzero(~torch.isfinite(peak)).flatten().tolist()
        raise AudioError(
            f"Audio(s) {bad} contain NaN or infinite samples; audio samples must be finite numbers."
        )
    features = torch.empty(batch, n_mels, frames, dtype=torch.float32, device=signal.device)
    torch.maximum(items.transpose(1, 2), (peak - 8.0)[:, None, None], out=features)
    return features.add_(4.0).div_(4.0)


def _frame_ranges(num_samples: torch.Tensor, frames: int, stride: int, padded: int, chunk: int):
    """Yield ``(start, stop, active)`` ranges of flat frame indices covering each item's ``frames``
    frames in pieces of at most ``chunk``; ``active`` is False for ranges whose frames only read zeros.

    Item b's frame t reads padded samples from 160 t − 200: once that is past the item's end, and the
    end reflection is of zeros too (at least 201 zeros before the padded end), the frame is silent and
    its log-mel is the floor, so long silent tails (short items in a batch with a long one) are filled
    instead of transformed. Neighbouring ranges of the same kind are merged across the 3 unused slots
    between items, so that short clips share FFT calls.
    """
    spans: list[list] = []  # [start, stop, active]
    for index, length in enumerate(num_samples.tolist()):
        silent_from = -(-(length + _PAD) // HOP_LENGTH) if padded - length > _PAD else frames
        if frames - silent_from < _MIN_SILENT_FRAMES:  # too short to be worth a separate fill
            silent_from = frames
        base = index * stride
        for start, stop, active in (
            (base, base + silent_from, True),
            (base + silent_from, base + frames, False),
        ):
            if stop <= start:
                continue
            if spans and spans[-1][2] == active and start - spans[-1][1] <= stride - frames:
                spans[-1][1] = stop
            else:
                spans.append([start, stop, active])
    for start, stop, active in spans:
        step = chunk if active else stop - start
        for piece in range(start, stop, step):
            yield piece, min(stop, piece + step), active
