"""Audio front end: decode any input to 16 kHz mono, compute Whisper log-mel features, split long audio.

>>> from auricle.audio import load_audio, log_mel, audio_token_count
>>> audio = load_audio("speech.mp3")                  # float32, 16 kHz, mono
>>> batch = log_mel([audio], n_mels=80)               # MelBatch(features [1, 80, T], num_samples)
>>> audio_token_count(len(audio), "floor").audio_tokens
"""

from auricle.audio.features import (
    CHUNK_SECONDS,
    HOP_LENGTH,
    N_FFT,
    N_FRAMES,
    N_SAMPLES,
    AudioLengths,
    MelBatch,
    audio_token_count,
    frames_for,
    log_mel,
    mel_filters,
)
from auricle.audio.io import SAMPLE_RATE, load_audio
from auricle.audio.segment import split_on_silence

__all__ = [
    "CHUNK_SECONDS",
    "HOP_LENGTH",
    "N_FFT",
    "N_FRAMES",
    "N_SAMPLES",
    "SAMPLE_RATE",
    "AudioLengths",
    "MelBatch",
    "audio_token_count",
    "frames_for",
    "load_audio",
    "log_mel",
    "mel_filters",
    "split_on_silence",
]
