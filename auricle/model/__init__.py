"""The AudioLM model: config presets, audio encoder, text decoder and the model that joins them."""

from auricle.model.audiolm import AudioLM, AudioSpan
from auricle.model.config import PRESETS, AudioLMConfig, EncoderConfig, TextConfig, preset
from auricle.model.encoder import AudioEncoder
from auricle.model.restack import restack
from auricle.model.text import KVCache, TextModel

__all__ = [
    "PRESETS",
    "AudioEncoder",
    "AudioLM",
    "AudioLMConfig",
    "AudioSpan",
    "EncoderConfig",
    "KVCache",
    "TextConfig",
    "TextModel",
    "preset",
    "restack",
]
