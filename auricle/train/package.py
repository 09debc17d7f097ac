"""Package a trained model for shipping inside auricle: fp16 weights, tokenizer, recipes, licence.

``python -m auricle.train.package SRC DST --chat CHAT --recipe stage1.yaml --recipe stage2.yaml``
reads the model folder a training run exported (``runs/auricle-small/stage1/model``), casts it to
float16 (loaded back as float32 on a CPU) and writes ``DST`` with the tokenizer, the exact recipes
that made it, the licence of the Whisper weights it starts from, and a README naming the commands.
``--chat`` adds a model fine-tuned from SRC for chat (``runs/auricle-small/stage2/model``) as a
``chat/`` variant: only the tensors chat fine-tuning changed (:mod:`auricle.checkpoint.variant`).
``make train-small`` ends with this step; the result is ``auricle/weights/auricle-small``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import yaml

from auricle.checkpoint import load_checkpoint, save_checkpoint
from auricle.checkpoint.variant import CHAT_VARIANT, save_variant, variant_summary
from auricle.errors import CheckpointError

#: OpenAI Whisper's licence: the audio encoder of every auricle-small model starts from its weights.
WHISPER_LICENSE = """\
The audio encoder of this model was initialised from OpenAI Whisper (base) weights,
distributed under the following licence.

MIT License

Copyright (c) 2022 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

README = """\
# {name}

A small Qwen-Audio-architecture model trained by auricle on its own synthetic corpus: OpenAI
Whisper-base's encoder (MIT, see LICENSE-whisper.txt), average pooling, a projection and a
{layers}-layer {width}-wide Qwen-style decoder ({params:,} parameters, stored as float16).
Everything else (decoder, projection, tokenizer) was trained by auricle and is released under
auricle's licence (Apache-2.0).
{chat}
Metrics, data, compute and limits: docs/model-card.md in the auricle repository.

## How it was made

```
{commands}
```

The recipes, exactly as run, are {recipes}.
"""

COMMANDS = """\
make train-small     # corpus, stage 1, stage 2, then this packaging step:
python -m auricle.train.package runs/auricle-small/stage1/model auricle/weights/auricle-small \\
    --chat runs/auricle-small/stage2/model \\
    --recipe runs/auricle-small/stage1/model/recipe.yaml --recipe runs/auricle-small/stage2/model/recipe.yaml"""

CHAT_NOTE = """\
The tagged tasks run on the stage-1 model; chats run on `chat/`, the decoder after ChatML
fine-tuning (stage 2), which shares everything else with it: the tensors stage 2 changed
({chat_params:,} parameters), as Qwen-Audio and Qwen-Audio-Chat are two checkpoints of one model.
"""


def recipe_file_name(recipe: str | Path, index: int) -> str:
    """``recipe-stage<label>.yaml`` for the ``index``-th recipe (from 1) of a package.

    The label is the stage its ``name`` ends with (``auricle-small-stage1b`` -> ``1b``), so that a
    package's files say which recipe is which; a recipe named otherwise is labelled by its position.
    """
    data = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    name = data.get("name") if isinstance(data, dict) else None
    match = re.search(r"-stage(\w+)$", str(name or ""))
    return f"recipe-stage{match.group(1) if match else index}.yaml"


def package_model(
    src: str | Path,
    dst: str | Path,
    *,
    recipes: list[str | Path] = (),
    name: str = "auricle-small",
    commands: str = COMMANDS,
    chat: str | Path | None = None,
) -> Path:
    """Write the model in ``src`` as a float16 package folder ``dst`` (replaced); returns ``dst``.

    ``chat``: a model fine-tuned from ``src`` for chat (same architecture and tokenizer), stored as
    the ``chat/`` variant that :func:`auricle.load` answers chats with.
    """
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise CheckpointError("package: the destination must differ from the source folder")
    names = [recipe_file_name(recipe, i) for i, recipe in enumerate(recipes, start=1)]
    if len(set(names)) < len(names):
        raise CheckpointError(f"package: two recipes would be written under one name: {names}")
    loaded = load_checkpoint(src, dtype="float32", device="cpu")
    chat_model = None
    if chat is not None:
        if _tokenizer_text(chat) != _tokenizer_text(src):
            raise CheckpointError(
                f"package: {chat} has another tokenizer than {src}; the chat model must share it"
            )
        chat_model = load_checkpoint(chat, dtype="float32", device="cpu").model
    if dst.exists():
        shutil.rmtree(dst)
    save_checkpoint(loaded.model, dst, dtype="float16", tokenizer_folder=src, progress=False)
    chat_note = ""
    if chat_model is not None:
        variant = save_variant(loaded.model, chat_model, dst / CHAT_VARIANT, dtype="float16")
        chat_note = "\n" + CHAT_NOTE.format(chat_params=variant_summary(variant)["parameters"])
    for recipe, file_name in zip(recipes, names, strict=True):
        shutil.copyfile(recipe, dst / file_name)
    (dst / "LICENSE-whisper.txt").write_text(WHISPER_LICENSE, encoding="utf-8")
    cfg = loaded.model.cfg
    (dst / "README.md").write_text(
        README.format(
            name=name,
            layers=cfg.text.n_layers,
            width=cfg.text.hidden_size,
            params=loaded.model.num_parameters(),
            chat=chat_note,
            commands=commands,
            recipes=", ".join(names) or "not recorded",
        ),
        encoding="utf-8",
    )
    return dst


def _tokenizer_text(folder: str | Path) -> str:
    path = Path(folder) / "tokenizer.json"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m auricle.train.package SRC DST [--recipe R ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m auricle.train.package", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("src", help="model folder written by `auricle train` (OUT_DIR/model)")
    parser.add_argument("dst", help="package folder to write (replaced), e.g. auricle/weights/auricle-small")
    parser.add_argument(
        "--recipe", action="append", default=[], help="recipe YAML that made it (repeat, in order)"
    )
    parser.add_argument("--name", default="auricle-small", help="model name in the README")
    parser.add_argument(
        "--chat", default=None, help="model fine-tuned from SRC for chat, stored as the chat/ variant"
    )
    args = parser.parse_args(argv)
    out = package_model(args.src, args.dst, recipes=args.recipe, name=args.name, chat=args.chat)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"packaged {args.src} -> {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
