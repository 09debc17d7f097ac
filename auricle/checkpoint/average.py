"""Weighted averages of checkpoints that share an architecture (model soups, WiSE-FT).

Interpolating a fine-tuned model with the model it was fine-tuned from,
``θ = (1 - a)·θ_base + a·θ_tuned``, often keeps most of what fine-tuning taught while giving back
much of what it cost elsewhere (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models");
averaging several fine-tunings of one base is a "model soup". Both only make sense for checkpoints
that started from the same weights: two models trained from scratch with different seeds do not
average into anything useful.

``auricle average BASE TUNED --weights 0.5 0.5 --out SOUP`` writes the average in auricle's layout,
with the tokenizer of the first checkpoint.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from auricle.checkpoint.files import read_json
from auricle.checkpoint.loader import load_checkpoint
from auricle.checkpoint.save import model_state, save_checkpoint
from auricle.errors import CheckpointError


def _normalised(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise CheckpointError(f"average: {n} checkpoints but {len(weights)} weights")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise CheckpointError(f"average: weights must be finite and non-negative, got {list(weights)}")
    total = sum(weights)
    if total <= 0:
        raise CheckpointError("average: the weights sum to zero")
    return [w / total for w in weights]


def average_checkpoints(
    folders: Sequence[str | Path],
    out: str | Path,
    *,
    weights: Sequence[float] | None = None,
    dtype: str | None = None,
) -> Path:
    """Write the weighted average of checkpoints ``folders`` (any layout, one architecture) to ``out``.

    Args:
        folders: two or more checkpoint folders whose configs are identical.
        out: the folder to write (auricle layout; must be none of the inputs).
        weights: one non-negative weight per checkpoint, normalised to sum to 1 (default: equal).
        dtype: stored dtype of the result (default: the first checkpoint's).

    The average is computed in float32; integer tensors (none in auricle models) must be equal in all
    checkpoints.
    """
    if len(folders) < 2:
        raise CheckpointError("average: give at least two checkpoints")
    out = Path(out)
    for folder in folders:
        if out.exists() and out.resolve() == Path(folder).resolve():
            raise CheckpointError(f"average: the output {out} is one of the inputs; write a new folder")
    shares = _normalised(weights, len(folders))
    first = load_checkpoint(folders[0], dtype="float32", device="cpu")
    state = model_state(first.model)
    acc = {name: t.float() * shares[0] if t.is_floating_point() else t.clone() for name, t in state.items()}
    for folder, share in zip(folders[1:], shares[1:], strict=True):
        other = load_checkpoint(folder, dtype="float32", device="cpu")
        if other.config != first.config:
            raise CheckpointError(
                f"average: {folder} is not the architecture of {folders[0]} (configs differ); only "
                "checkpoints of one model, fine-tuned from the same weights, can be averaged"
            )
        for name, t in model_state(other.model).items():
            if t.is_floating_point():
                acc[name].add_(t.float(), alpha=share)
            elif not torch.equal(acc[name], t):
                raise CheckpointError(f"average: integer tensor {name} differs between checkpoints")
        del other
    stored = dtype or read_json(Path(first.folder) / "config.json").get("dtype")  # None: float32
    return save_checkpoint(
        first.model, out, dtype=stored, tokenizer_folder=first.folder, progress=False, state=acc
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``auricle average``."""
    out = average_checkpoints(args.checkpoints, args.out, weights=args.weights, dtype=args.dtype)
    shares = _normalised(args.weights, len(args.checkpoints))
    parts = " + ".join(f"{s:.3g}·{c}" for s, c in zip(shares, args.checkpoints, strict=True))
    print(f"wrote {out} = {parts}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``average`` to the ``auricle`` command line."""
    p = subparsers.add_parser(
        "average",
        help="weighted average of checkpoints fine-tuned from the same weights (model soup, WiSE-FT)",
        description=__doc__.split("\n\n")[0]
        + " Example: auricle average stage1/model stage2/model --weights 0.5 0.5 --out soup",
    )
    p.add_argument("checkpoints", nargs="+", help="two or more checkpoint folders of one architecture")
    p.add_argument("--out", required=True, help="folder to write (auricle layout)")
    p.add_argument(
        "--weights", type=float, nargs="+", default=None, help="one weight per checkpoint (default: equal)"
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="stored dtype (default: the first checkpoint's)",
    )
    p.set_defaults(func=run)
