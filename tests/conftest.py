"""Settings for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def exact_fp32_on_cuda() -> Iterator[None]:
    """Full-precision fp32 matmuls and convolutions on CUDA (no TF32), as the 1e-5 parity bar needs.

    cuDNN allows TF32 in convolutions by default, which alone puts the encoder's conv front end about
    1e-3 off the reference. No effect on CPU. Restored after each test.
    """
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
