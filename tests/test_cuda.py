"""CUDA-only checks of whole jobs (skipped without a GPU): training on the GPU follows the CPU run, and
the shipped model reads the example clips on the GPU as it does on the CPU.

Run them, with every other CUDA case of the suite (parity with transformers on CUDA, generation, the
mel front end), with ``pytest -m gpu`` on a machine with CUDA. ``AURICLE_TEST_DEVICE=cuda pytest
tests/test_shipped_model.py`` runs the shipped model's quality thresholds on the GPU as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_data_pipeline import make_corpus
from test_shipped_model import examples, paths
from test_train import _overrides

import auricle
from auricle.eval.metrics import error_rate
from auricle.train.config import load_recipe
from auricle.train.loop import train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _train(corpus: Path, out: Path, *extra: str) -> list[float]:
    """The tiny-test recipe's loss curve (one value per step)."""
    overrides = _overrides(corpus, out, "log.save_every=0", "data.augment.prob=0", *extra)
    return train(load_recipe("tiny-test", overrides)).losses


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_fp32_training_on_cuda_follows_the_cpu_run(corpus: Path, tmp_path: Path) -> None:
    """Same initialisation (built on the CPU, then moved), same batches: the same loss curve."""
    steps = "train.max_steps=6"
    cpu = _train(corpus, tmp_path / "cpu", steps)
    gpu = _train(corpus, tmp_path / "gpu", steps, "train.device=cuda")
    assert gpu == pytest.approx(cpu, rel=1e-4)


def test_cached_encoder_states_on_cuda_follow_the_cpu_run(corpus: Path, tmp_path: Path) -> None:
    """The encoder cache built on the GPU trains like the one built on the CPU."""
    extra = ("train.max_steps=4", "train.cached_encoder_layers=1")
    cpu = _train(corpus, tmp_path / "cpu", *extra)
    gpu = _train(corpus, tmp_path / "gpu", *extra, "train.device=cuda")
    assert gpu == pytest.approx(cpu, rel=2e-3)


def test_bf16_training_on_cuda_learns_like_fp32(corpus: Path, tmp_path: Path) -> None:
    """``train.precision=auto`` is bf16 autocast on CUDA: it starts where fp32 starts and learns as fast."""
    steps = "train.max_steps=16"
    fp32 = _train(corpus, tmp_path / "fp32", steps, "train.device=cuda", "train.precision=fp32")
    bf16 = _train(corpus, tmp_path / "bf16", steps, "train.device=cuda", "train.precision=auto")
    assert bf16[0] == pytest.approx(fp32[0], rel=2e-2)
    assert _mean(bf16[-2:]) < 0.8 * _mean(bf16[:2])
    assert _mean(bf16[-4:]) == pytest.approx(_mean(fp32[-4:]), rel=0.15)


def test_shipped_model_on_cuda_reads_the_clips_as_on_cpu() -> None:
    """fp32 on the GPU gives the CPU's transcripts word for word; the checkpoint's own half precision
    (the default on CUDA) and bf16 stay within a few words of them."""
    clips = paths([ex for ex in examples()["asr"] if ex.language == "en"])
    want = [r.text for r in auricle.load(device="cpu").transcribe(clips, language="en")]
    for dtype in ("float32", "auto", "bfloat16"):
        got = [r.text for r in auricle.load(device="cuda", dtype=dtype).transcribe(clips, language="en")]
        if dtype == "float32":
            assert got == want
        else:
            assert error_rate(want, got, "en") <= 0.1, (dtype, got, want)


def test_encoder_takes_frame_counts_from_the_cpu() -> None:
    """Features on the GPU with frame counts on the CPU (what a feature batch gives) and clips of
    different lengths (the per-item truncation mask): the result of an all-GPU call."""
    from auricle.model import AudioLM, preset

    torch.manual_seed(0)
    model = AudioLM(preset("tiny-qwen-audio")).eval().to("cuda")
    mel = torch.randn(2, 80, 300, device="cuda")
    frames = torch.tensor([201, 130])
    with torch.no_grad():
        mixed = model.encode_audio(mel, frames)
        on_gpu = model.encode_audio(mel, frames.cuda())
    assert len(mixed) == 2 and all(torch.equal(a, b) for a, b in zip(mixed, on_gpu))
