"""`auricle data synth`: generate the synthetic multi-task corpus."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from auricle.data.manifest import TASKS
from auricle.data.synth.grammar import LANGUAGES


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _mix(value: str) -> dict[str, float]:
    """``kind=weight,...`` as a dict; a malformed item is a usage error."""
    mix = {}
    for item in _csv(value):
        kind, sep, weight = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected kind=weight, got {item!r}")
        try:
            mix[kind.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of {kind!r} is not a number: {weight!r}") from None
    return mix


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` sub-command to ``subparsers`` (of ``auricle data``)."""
    p = subparsers.add_parser(
        "synth",
        help="generate a deterministic synthetic multi-task corpus (speech, sounds, music)",
        description="Generate FLAC audio and train/valid/test JSONL manifests covering every task family. "
        "Same seed and settings give byte-identical output for any --jobs. See docs/data.md.",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder (its audio/, manifests and README are replaced)",
    )
    p.add_argument("--hours", type=float, default=1.0, help="hours of audio to generate (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--tasks",
        type=_csv,
        default=tuple(TASKS),
        help=f"comma-separated tasks (default all: {','.join(TASKS)})",
    )
    p.add_argument(
        "--languages",
        type=_csv,
        default=LANGUAGES,
        help=f"comma-separated languages (default {','.join(LANGUAGES)})",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="parallel worker processes (default 1); output does not depend on it",
    )
    p.add_argument(
        "--augment-prob", type=float, default=0.5, help="probability that a clip is augmented (default 0.5)"
    )
    p.add_argument("--valid-frac", type=float, default=0.05, help="share of clips in valid (default 0.05)")
    p.add_argument("--test-frac", type=float, default=0.05, help="share of clips in test (default 0.05)")
    p.add_argument(
        "--max-clips",
        type=int,
        default=None,
        help="stop after this many clips even if --hours is not reached",
    )
    p.add_argument(
        "--backends",
        type=_csv,
        default=("espeak", "festival", "flite"),
        help="speech synthesisers to use (default espeak,festival,flite; espeak-ng is required)",
    )
    p.add_argument(
        "--sentence-mix",
        type=_mix,
        default=None,
        help="share of each kind of spoken sentence, e.g. carrier=1,list=1 for a corpus dense in "
        "vocabulary words (default parallel=0.45,carrier=0.45,list=0.1; docs/data.md)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the generator with the parsed arguments; prints a one-line summary."""
    from auricle.data.synth.generate import SynthConfig, generate_corpus

    config = SynthConfig(
        out=args.out,
        hours=args.hours,
        seed=args.seed,
        tasks=args.tasks,
        languages=args.languages,
        jobs=args.jobs,
        augment_prob=args.augment_prob,
        valid_frac=args.valid_frac,
        test_frac=args.test_frac,
        max_clips=args.max_clips,
        backends=args.backends,
        sentence_mix=args.sentence_mix,
        progress=not args.no_progress,
        command="auricle data synth "
        + shlex.join(sys.argv[sys.argv.index("synth") + 1 :] if "synth" in sys.argv else []),
    )
    summary = generate_corpus(config)
    hours = sum(summary.seconds.values()) / 3600
    n = sum(sum(t.values()) for t in summary.examples.values())
    print(f"wrote {summary.clips} clips ({hours:.3f} h) and {n} examples to {summary.out}")
    return 0
