"""The `auricle` command line. Each subcommand lives with the code it drives and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import sys

from auricle.errors import AuricleError

# module path -> it must define `register(subparsers)`; each registered parser sets `func=`.
_SUBCOMMAND_MODULES = [
    "auricle.checkpoint.average",
    "auricle.checkpoint.cli",
    "auricle.data.cli",
    "auricle.eval.cli",
    "auricle.tasks.cli",
    "auricle.train.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="auricle", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("auricle"):
                continue  # that part of the package is not built yet
            raise
        module.register(sub)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that a subcommand may claim what argparse leaves over.

    argparse cannot take a subcommand's KEY=VALUE positionals after its flags; a subcommand that
    wants them there says so with ``take_extras=`` (it returns False for arguments it does not own).
    """
    args, extras = parser.parse_known_args(argv)
    if extras and not getattr(args, "take_extras", lambda a, e: False)(args, extras):
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors print one clear line and give a non-zero exit code."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AuricleError as e:
        print(f"auricle: error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"auricle: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
