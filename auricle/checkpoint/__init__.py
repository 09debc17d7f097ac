"""Checkpoints: load the official v1/v2 layouts and auricle's own, save, export to HF, read Whisper.

The only part of auricle that knows official weight names (see :mod:`auricle.checkpoint.keymap`).
"""

from auricle.checkpoint.export import export_hf_qwen2_audio
from auricle.checkpoint.info import CheckpointInfo, checkpoint_info
from auricle.checkpoint.loader import LAYOUTS, LoadedCheckpoint, detect_layout, load_checkpoint
from auricle.checkpoint.parts import build_from_parts
from auricle.checkpoint.save import save_checkpoint
from auricle.checkpoint.whisper import (
    WhisperWeights,
    detect_whisper_layout,
    find_packaged_whisper,
    read_whisper,
)
from auricle.checkpoint.whisper_export import whisper_to_hf

__all__ = [
    "LAYOUTS",
    "CheckpointInfo",
    "LoadedCheckpoint",
    "WhisperWeights",
    "build_from_parts",
    "checkpoint_info",
    "detect_layout",
    "detect_whisper_layout",
    "export_hf_qwen2_audio",
    "find_packaged_whisper",
    "load_checkpoint",
    "read_whisper",
    "save_checkpoint",
    "whisper_to_hf",
]
