"""`auricle data`: data commands (``synth`` generates the synthetic corpus)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``data`` command and its sub-commands to the top-level ``subparsers``."""
    from auricle.data.synth.cli import add_parser as add_synth

    data = subparsers.add_parser("data", help="make and inspect training data")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    add_synth(sub)
    data.set_defaults(func=lambda args: _help(data))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
