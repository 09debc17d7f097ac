"""Write the trained model as a checkpoint folder in auricle's layout (loadable by ``auricle.load``).

The full state dict is gathered from every rank (FSDP) and written by rank 0: ``config.json``,
``model.safetensors`` (sharded when large) and the tokenizer files. With LoRA the adapter is saved
in ``<folder>/adapter`` and, when ``lora.merge_on_save``, the folder holds the merged weights.
The auxiliary CTC head is training-only and is not exported.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from auricle.checkpoint.save import save_checkpoint
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig
from auricle.tokenizer import Tokenizer
from auricle.train.config import Recipe, dump_recipe
from auricle.train.distributed import DistInfo, barrier
from auricle.train.lora import add_lora, merge_lora, save_adapter

TRAINING_ONLY = ("ctc_head.",)  # modules the trainer adds that inference models do not have


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor of ``model`` as a full CPU tensor (a collective under FSDP: call on all ranks)."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def write_model_folder(
    state: dict[str, torch.Tensor], cfg: AudioLMConfig, tokenizer: Tokenizer, folder: str | Path
) -> Path:
    """Save model weights ``state`` with ``cfg`` and the tokenizer in auricle's layout."""
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY)}
    with torch.device("meta"):
        model = AudioLM(cfg)
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    folder = save_checkpoint(model, folder, progress=False)
    tokenizer.save(folder)
    return folder


def merged_state_dict(
    state: dict[str, torch.Tensor], recipe: Recipe, cfg: AudioLMConfig
) -> dict[str, torch.Tensor]:
    """Plain-model weights from the state dict of a LoRA model (adapters folded in)."""
    lora = recipe.lora
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY)}
    with torch.device("meta"):
        model = AudioLM(cfg)
    add_lora(model, lora.r, lora.alpha, lora.dropout, lora.target_modules)
    model.load_state_dict(state, strict=True, assign=True)
    merge_lora(model)
    return {k: v.detach() for k, v in model.state_dict().items()}


def export_model(
    model: torch.nn.Module, recipe: Recipe, tokenizer: Tokenizer, info: DistInfo, folder: str | Path
) -> Path:
    """Gather and write the model (all ranks call this); returns the folder."""
    folder = Path(folder)
    state = full_state_dict(model)
    if info.is_main:
        cfg: AudioLMConfig = model.cfg
        if recipe.lora.enabled:
            lora = recipe.lora
            save_adapter(state, folder / "adapter", lora.r, lora.alpha, lora.dropout, lora.target_modules)
            if lora.merge_on_save:
                write_model_folder(merged_state_dict(state, recipe, cfg), cfg, tokenizer, folder)
        else:
            write_model_folder(state, cfg, tokenizer, folder)
        dump_recipe(recipe, folder / "recipe.yaml")
    barrier(info)
    return folder
