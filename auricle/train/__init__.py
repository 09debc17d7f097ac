"""Training: YAML recipes, the loop (AdamW, warmup + cosine, accumulation, bf16), FSDP2, LoRA, resume.

    auricle train tiny-test data.train=[corpus/train.jsonl] model.tokenizer=corpus/tokenizer
    torchrun --nproc-per-node 8 -m auricle.train sft-lora-7b model.checkpoint=PATH

From Python::

    from auricle.train import load_recipe, train
    result = train(load_recipe("tiny-test", ["data.train=[corpus/train.jsonl]"]))

See docs/training.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auricle.train.config import Recipe, available_recipes, load_recipe

if TYPE_CHECKING:
    from auricle.train.loop import TrainResult

__all__ = ["Recipe", "TrainResult", "available_recipes", "load_recipe", "prepare", "train"]


def train(recipe: Recipe, resume: str | bool | None = None) -> TrainResult:
    """Run ``recipe`` (see :func:`auricle.train.loop.train`); ``resume=True`` continues the newest checkpoint."""
    from auricle.train.loop import train as run  # torch.distributed and friends load only when training

    return run(recipe, resume)


def __getattr__(name: str):
    if name == "TrainResult":
        from auricle.train.loop import TrainResult

        return TrainResult
    raise AttributeError(name)


def prepare(recipe: Recipe) -> None:
    """Build the tokenizer and encoder cache ``recipe`` needs, then stop (see :func:`auricle.train.loop.prepare`)."""
    from auricle.train.loop import prepare as run

    run(recipe)
