"""``auricle train RECIPE [key=value ...] [--resume [CHECKPOINT]] [--prepare] [--validate]``: run a training
recipe (or only validate its starting model)."""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

from auricle.train.config import available_recipes, load_recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a model from a YAML recipe",
        description=(
            "Train from a YAML recipe. Shipped recipes: "
            + ", ".join(available_recipes())
            + ". Several GPUs: torchrun --nproc-per-node N -m auricle.train RECIPE [overrides]. "
            "See docs/training.md."
        ),
    )
    p.add_argument("recipe", help="a recipe YAML file, or the name of a shipped recipe (e.g. tiny-test)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="set recipe fields by dotted path, values in YAML syntax: optim.lr=3e-4 data.train=[a.jsonl]",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CHECKPOINT",
        help="continue from the newest complete checkpoint of the run (or from the given checkpoint folder)",
    )
    p.add_argument("--print-recipe", action="store_true", help="print the resolved recipe as YAML and exit")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="build what the run needs before its first step (the BPE tokenizer of model.tokenizer_vocab, "
        "the encoder cache of train.cached_encoder_layers) and exit; the run that follows then starts "
        "training at once (docs/training.md: a fresh process also trained faster here)",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="print the validation metrics of the recipe's starting model (model.checkpoint) on data.valid "
        "as JSON, without training; e.g. data.tasks=[chat] for a chat-only loss",
    )
    p.set_defaults(func=run, take_extras=take_overrides)


def take_overrides(args: argparse.Namespace, extras: list[str]) -> bool:
    """Accept ``KEY=VALUE`` overrides written after a flag (``RECIPE --prepare a.b=1``), in order."""
    if not all(_is_override(e) for e in extras):
        return False
    args.overrides = [*args.overrides, *extras]
    return True


def _is_override(text: str) -> bool:
    key = text.split("=", 1)[0]
    return "=" in text and not text.startswith("-") and bool(key) and " " not in key


def _split_resume(args: argparse.Namespace) -> None:
    """``--resume a.b=1`` means "resume, and override a.b": a ``KEY=VALUE`` that names no folder."""
    if isinstance(args.resume, str) and _is_override(args.resume) and not os.path.exists(args.resume):
        args.overrides = [args.resume, *args.overrides]
        args.resume = True


def run(args: argparse.Namespace) -> int:
    """Entry point of ``auricle train``."""
    _split_resume(args)
    recipe = load_recipe(args.recipe, args.overrides)
    if args.print_recipe:
        yaml.safe_dump(recipe.to_dict(), sys.stdout, sort_keys=False)
        return 0
    from auricle.train.loop import prepare, train, validate  # heavy imports only when training

    if args.validate:
        metrics = validate(recipe)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps({k: round(v, 6) for k, v in metrics.items()}))
        return 0
    if args.prepare:
        prepare(recipe)
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"auricle train: prepared {recipe.name}; run it without --prepare to train")
        return 0
    result = train(recipe, resume=args.resume)
    if result.model_dir is not None and int(os.environ.get("RANK", "0")) == 0:
        print(f"auricle train: step {result.step}; model written to {result.model_dir}")
    return 0
