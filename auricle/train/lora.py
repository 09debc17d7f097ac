"""LoRA adapters through peft, injected into auricle's own modules (names are kept).

``add_lora`` wraps every ``nn.Linear`` whose dotted name fully matches ``target_modules`` (default:
the q/k/v/o and gate/up/down projections of every decoder layer). The adapter is saved in peft's
format (``adapter_config.json`` + ``adapter_model.safetensors``, keys without the ``base_model.model.``
prefix), and :func:`merge_lora` folds it into the base weights so that the result is a plain
:class:`~auricle.model.AudioLM` again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from auricle.errors import CheckpointError, ConfigError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _peft():
    try:
        import peft
    except ImportError as e:  # peft is in the `train` extra
        raise ConfigError("lora.enabled needs peft: pip install 'auricle[train]'") from e
    return peft


def lora_config(r: int, alpha: float, dropout: float, target_modules: str):  # -> peft.LoraConfig
    """The peft ``LoraConfig`` for these settings (``target_modules`` is a full-match regex)."""
    try:
        re.compile(target_modules)
    except re.error as e:
        raise ConfigError(f"lora.target_modules {target_modules!r} is not a valid regex: {e}") from e
    return _peft().LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)


def add_lora(model: nn.Module, r: int, alpha: float, dropout: float, target_modules: str) -> nn.Module:
    """Inject LoRA adapters in place and return ``model``; raises if the regex matches no module."""
    matched = [
        n for n, m in model.named_modules() if isinstance(m, nn.Linear) and re.fullmatch(target_modules, n)
    ]
    if not matched:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][:4]
        raise ConfigError(
            f"lora.target_modules {target_modules!r} matches no linear layer; linear layers are named "
            f"like {linear}"
        )
    _peft().inject_adapter_in_model(lora_config(r, alpha, dropout, target_modules), model)
    return model


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` carries peft LoRA layers."""
    from peft.tuners.lora import LoraLayer

    return any(isinstance(m, LoraLayer) for m in model.modules())


def adapter_state_dict(full_state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The adapter weights of a full state dict, under peft's saved names (adapter name removed)."""
    out = {}
    for name, t in full_state_dict.items():
        if ".lora_" in name:
            out[name.replace(".default.", ".")] = t
    return out


def save_adapter(
    full_state_dict: dict[str, torch.Tensor],
    folder: str | Path,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: str,
) -> Path:
    """Write ``adapter_config.json`` and ``adapter_model.safetensors`` into ``folder``; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in adapter_state_dict(full_state_dict).items()}
    if not weights:
        raise CheckpointError("the state dict holds no LoRA weights (names with '.lora_'); is LoRA enabled?")
    save_file(weights, str(folder / ADAPTER_WEIGHTS))
    lora_config(r, alpha, dropout, target_modules).save_pretrained(str(folder))
    return folder


def load_adapter(model: nn.Module, folder: str | Path) -> nn.Module:
    """Inject the adapter saved in ``folder`` into ``model`` (without adapters) and load its weights."""
    folder = Path(folder)
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        weights = load_file(str(folder / ADAPTER_WEIGHTS))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read a LoRA adapter from {folder}: {e}") from e
    add_lora(model, config["r"], config["lora_alpha"], config["lora_dropout"], config["target_modules"])
    result = _peft().set_peft_model_state_dict(model, weights)
    missing = [k for k in weights if k not in _loaded_names(model)]
    if missing or getattr(result, "unexpected_keys", None):
        raise CheckpointError(f"adapter in {folder} does not fit the model: {missing[:4]}")
    return model


def _loaded_names(model: nn.Module) -> set[str]:
    return {n.replace(".default.", ".") for n, _ in model.named_parameters() if ".lora_" in n}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its base weight and put the plain layer back, in place.

    Afterwards ``model`` has exactly the parameters (and names) of the model before :func:`add_lora`,
    and computes what the adapted model computed.
    """
    from peft.tuners.lora import LoraLayer

    targets = [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    for name, module in targets:
        module.merge(safe_merge=True)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
    return model
