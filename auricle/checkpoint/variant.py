"""Model variants that replace a few parts of a base model: a chat decoder beside a task model.

Qwen-Audio is two checkpoints: the multi-task model of stage 1, driven by task tags, and
Qwen-Audio-Chat, fine-tuned from it on ChatML conversations. Fine-tuning for chat costs the tagged
tasks accuracy (for auricle-small, docs/training.md), so a package can hold both: the base model,
and in a ``chat/`` folder beside it the tensors that chat fine-tuning changed. The variant is
built on the base model in memory and shares every module whose tensors it does not replace (the
audio encoder, the projection), so the second model costs only its own decoder.

A variant folder holds ``variant.json`` (format, stored dtype, the tensors it replaces) and the
changed tensors in safetensors files (``model.safetensors``, or shards with an index).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from auricle.checkpoint.files import list_tensors, open_weights, read_json, weight_files
from auricle.checkpoint.save import as_dtype, dtype_name, model_state, write_json
from auricle.checkpoint.writer import write_shards
from auricle.errors import CheckpointError
from auricle.model.audiolm import AudioLM

VARIANT_FILE = "variant.json"
#: Sub-folder of a model folder holding its chat variant (:func:`auricle.load` loads it beside the model).
CHAT_VARIANT = "chat"
FORMAT_NAME = "auricle-variant"
FORMAT_VERSION = 1


def changed_tensors(base: AudioLM, tuned: AudioLM) -> dict[str, torch.Tensor]:
    """The tensors of ``tuned`` that are not bit-identical to ``base``'s (one architecture)."""
    if base.cfg != tuned.cfg:
        raise CheckpointError("variant: the two models have different configs; a variant needs its base's")
    ours = model_state(base)
    return {name: t for name, t in model_state(tuned).items() if not torch.equal(ours[name], t)}


def save_variant(
    base: AudioLM, tuned: AudioLM, folder: str | Path, *, dtype: str | torch.dtype | None = "float16"
) -> Path:
    """Write the parts of ``tuned`` that differ from ``base`` as a variant folder; returns it."""
    delta = changed_tensors(base, tuned)
    if not delta:
        raise CheckpointError("variant: the tuned model is identical to its base; nothing to save")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = as_dtype(dtype)
    write_shards(delta, folder, dtype=target, progress=False)
    write_json(
        folder / VARIANT_FILE,
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "dtype": dtype_name(delta, target),
            "tensors": sorted(delta),
        },
    )
    return folder


def is_variant(folder: str | Path) -> bool:
    """Whether ``folder`` holds a variant (its ``variant.json``)."""
    return (Path(folder) / VARIANT_FILE).is_file()


def variant_summary(folder: str | Path) -> dict[str, int] | None:
    """Parameters, tensors and bytes of the variant in ``folder`` (None when there is none), from
    file headers alone."""
    if not is_variant(folder):
        return None
    files = weight_files(Path(folder))
    infos = list_tensors(files)
    numel = sum(info.nbytes // info.dtype.itemsize for info in infos.values())
    return {"parameters": numel, "tensors": len(infos), "bytes": sum(p.stat().st_size for p in files)}


def _replaced_children(model: AudioLM, names: list[str]) -> set[str]:
    """The top-level modules a variant must copy: those it writes into, and those tied to them."""
    children = {name.split(".", 1)[0] for name in names}
    if model.cfg.text.tie_embeddings and children & {"text", "lm_head"}:
        children |= {"text", "lm_head"}
    return children


def load_variant(base: AudioLM, folder: str | Path) -> AudioLM:
    """The variant in ``folder`` built on ``base`` (same device and dtype), sharing its other modules.

    Every stored tensor must be one of the base's, with the base's shape; ``base`` is not changed.
    """
    folder = Path(folder)
    meta = read_json(folder / VARIANT_FILE)
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder / VARIANT_FILE} is not an auricle variant of format version {FORMAT_VERSION}"
        )
    infos = list_tensors(weight_files(folder))
    ours = model_state(base)
    unknown = sorted(set(infos) - set(ours))
    if unknown:
        raise CheckpointError(f"variant {folder} has tensors its base does not: {unknown[:5]}")
    wrong = [n for n, info in infos.items() if tuple(ours[n].shape) != info.shape]
    if wrong:
        raise CheckpointError(f"variant {folder} does not fit its base (shapes differ): {wrong[:5]}")
    replaced = _replaced_children(base, list(infos))
    with torch.device("meta"):
        variant = AudioLM(base.cfg)
    for name, child in base.named_children():
        setattr(variant, name, copy.deepcopy(child) if name in replaced else child)
    variant.tie_weights()
    targets = dict(variant.state_dict(keep_vars=True))
    with torch.no_grad():
        for path in sorted({info.file for info in infos.values()}):
            with open_weights(path) as reader:
                for name in (n for n, info in infos.items() if info.file == path):
                    targets[name].copy_(reader[name])
    return variant.train(base.training)
