"""Shared test helpers: tiny transformers reference models, test audio and the error measure.

Imported by the parity, checkpoint and generation tests as ``from reference_models import …``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

#: A ``device`` parameter that runs a test on CUDA too where there is a GPU (``pytest -m gpu`` runs only
#: the CUDA cases; without a GPU they are skipped, and the CPU case still runs).
CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")],
)
DEVICES = ["cpu", CUDA]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``‖a − b‖ / ‖b‖``."""
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def random_audio(seconds: float, seed: int) -> np.ndarray:
    """A tone in noise, different for each seed (16 kHz float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * 16000))) / 16000
    return (0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t)).astype(
        np.float32
    )


def tiny_qwen2_audio_hf(audio_token_id: int, *, vocab: int = 1000, n_kv_heads: int = 2, seed: int = 0):
    """A tiny transformers ``Qwen2AudioForConditionalGeneration`` in eval mode.

    Its position table is random (not sinusoids), so a test proves the table is read from weights.
    """
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.Qwen2AudioConfig(
        audio_config=dict(
            d_model=64, encoder_attention_heads=4, encoder_layers=2, encoder_ffn_dim=128, num_mel_bins=128
        ),
        text_config=dict(
            vocab_size=vocab,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=n_kv_heads,
            intermediate_size=128,
            rms_norm_eps=1e-6,
        ),
        audio_token_id=audio_token_id,
    )
    hf = transformers.Qwen2AudioForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        hf.model.audio_tower.embed_positions.weight.normal_(0, 0.5)
    return hf
