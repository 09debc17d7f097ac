"""Throughput of the synthetic corpus generator: seconds of audio produced per wall-clock second.

Generates a small corpus (default 0.15 h, --jobs 2, all tasks and languages, augmentation 0.5)
into a temporary folder and prints audio seconds, wall seconds, CPU seconds of all processes, the
machine and its load. Word vocabularies are prepared first (cached on disk after the first run)
and are not timed; a warm-up corpus of a few clips loads the synthesisers. Each timing is the
best of ``--repeats`` runs. The last line is ``realtime factor: <audio seconds / wall seconds>``.

    .venv/bin/python bench/synth.py
    .venv/bin/python bench/synth.py --hours 0.2 --jobs 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from machine import cpu_model

from auricle.data.synth import SynthConfig, generate_corpus
from auricle.data.synth.grammar import LANGUAGES
from auricle.data.synth.vocab import vocabulary


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_once(hours: float, jobs: int, seed: int, out: Path) -> tuple[float, float, float]:
    """Generate one corpus; returns (audio seconds, wall seconds, CPU seconds)."""
    config = SynthConfig(out=out, hours=hours, seed=seed, jobs=jobs, progress=False, command="bench/synth.py")
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    summary = generate_corpus(config)
    wall = time.perf_counter() - t0
    return sum(summary.seconds.values()), wall, cpu_seconds() - cpu0


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=0.15, help="hours of audio per run (default 0.15)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="runs; the best is reported (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    args = parser.parse_args()

    for lang in LANGUAGES:
        vocabulary(lang)
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="auricle-bench-synth-") as tmp:
        generate_corpus(SynthConfig(out=Path(tmp) / "warm", hours=1, max_clips=8, jobs=1, progress=False))
        best = None
        for r in range(args.repeats):
            audio, wall, cpu = run_once(args.hours, args.jobs, args.seed, Path(tmp) / f"run{r}")
            print(
                f"run {r}: {audio:.1f} s of audio in {wall:.2f} s wall ({audio / wall:.1f}x), "
                f"{cpu:.2f} CPU s ({audio / cpu:.1f}x per CPU second)"
            )
            if best is None or wall < best[1]:
                best = (audio, wall)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"command: --hours {args.hours} --jobs {args.jobs}; best of {args.repeats}")
    print(f"realtime factor: {best[0] / best[1]:.1f}")


if __name__ == "__main__":
    main()
