"""``python -m auricle.train RECIPE [key=value ...] [--resume [CHECKPOINT]]`` (the form torchrun launches).

torchrun --nproc-per-node 8 -m auricle.train sft-lora-7b data.train=[sft.jsonl]
"""

from __future__ import annotations

import argparse
import sys

from auricle.cli import parse_arguments
from auricle.errors import AuricleError
from auricle.train.cli import register


def main(argv: list[str] | None = None) -> int:
    """Parse the ``train`` arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m auricle.train")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parse_arguments(parser, ["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except AuricleError as e:
        print(f"auricle train: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
