"""Benchmark auricle's log_mel against transformers' WhisperFeatureExtractor on the same batches.

Two batches of random noise at 16 kHz: 16 clips of 30 s and 16 clips of 3 s. The reference call is
``WhisperFeatureExtractor(feature_size=n_mels)(clips, sampling_rate=16000, return_tensors="pt")``,
which pads every clip to 30 s; ours is ``log_mel(clips, n_mels)``, which pads only to the longest
clip. Each timing is the minimum over repeats after a warm-up. The outputs are checked to agree
(max abs difference over our frames) before timing. The last line is ``speedup: <the smaller ratio>``.

    .venv/bin/python bench/features.py            # 80 mels (Qwen-Audio)
    .venv/bin/python bench/features.py --n-mels 128 --repeats 30
    .venv/bin/python bench/features.py --threads 1    # steadier on a CPU shared with other jobs
    .venv/bin/python bench/features.py --device cuda --batch 32   # auricle on the GPU (reference on the host)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from machine import setup_torch, synchronize

from auricle.audio.features import log_mel


def best_time(call: Callable[[], object], repeats: int) -> float:
    """Minimum wall time in seconds of ``repeats`` calls, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n-mels", type=int, default=80, choices=(80, 128), help="mel bins (80: v1, 128: v2)"
    )
    parser.add_argument("--batch", type=int, default=16, help="clips per batch")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats; the minimum is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="where auricle computes the features (cpu or cuda)")
    args = parser.parse_args()

    from transformers import WhisperFeatureExtractor  # the oracle; not a runtime dependency of auricle

    setup_torch(args.threads)
    print(f"n_mels={args.n_mels}, batch={args.batch}, repeats={args.repeats} (minimum reported)")

    reference = WhisperFeatureExtractor(feature_size=args.n_mels)
    rng = np.random.default_rng(0)
    ratios = []
    for seconds in (30, 3):
        clips = [0.1 * rng.standard_normal(16000 * seconds, dtype=np.float32) for _ in range(args.batch)]

        def run_reference(clips=clips):
            return reference(clips, sampling_rate=16000, return_tensors="pt")["input_features"]

        def run_ours(clips=clips):
            features = log_mel(clips, args.n_mels, device=args.device).features
            synchronize(args.device)
            return features

        ours, theirs = run_ours().cpu(), run_reference()
        diff = (ours - theirs[..., : ours.shape[-1]]).abs().max().item()
        t_ref, t_ours = best_time(run_reference, args.repeats), best_time(run_ours, args.repeats)
        ratios.append(t_ref / t_ours)
        print(
            f"{args.batch} x {seconds:2d} s: transformers {t_ref * 1e3:8.2f} ms | auricle {t_ours * 1e3:7.2f} ms "
            f"({tuple(ours.shape)}) | ratio {t_ref / t_ours:6.1f}x | max abs diff {diff:.1e}"
        )
    print(f"speedup: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
