"""The files of a checkpoint folder: which hold weights, what tensors they hold, lazy access to them.

Weights are found in the usual Hugging Face places, in this order: ``model.safetensors.index.json``
(sharded safetensors), ``model.safetensors``, ``pytorch_model.bin.index.json``, ``pytorch_model.bin``,
then any ``*.safetensors``. Listing a checkpoint reads only the headers. Tensors are memory-mapped:
a safetensors tensor (and a ``.bin`` tensor loaded with ``mmap=True``) shares pages with the file
until it is cast or moved, so loading without a dtype change costs no extra memory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import torch
from safetensors import safe_open

from auricle.errors import CheckpointError

_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}

#: Files kept beside the weights when a checkpoint is saved or converted: tokenizers, generation and
#: preprocessing configs, mel filters, licences. (Model code and weights are not copied.)
SIDE_FILES = (
    "qwen.tiktoken",
    "tokenization_qwen.py",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocabulary.txt",
    "generation_config.json",
    "*_generation_config.json",
    "preprocessor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "mel_filters.npz",
    "LICENSE*",
    "NOTICE*",
)


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor lives and what it is, known from headers alone."""

    file: Path
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        """Size of the tensor's data in bytes."""
        n = 1
        for d in self.shape:
            n *= d
        return n * self.dtype.itemsize


def read_json(path: Path) -> dict:
    """A JSON file as a dict; a missing or broken file is a :class:`CheckpointError`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); re-download or re-save the checkpoint") from e


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a checkpoint folder, in load order."""
    folder = Path(folder)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            weight_map = read_json(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CheckpointError(f"{index} has no 'weight_map'; re-download or re-save the checkpoint")
            files = sorted(set(weight_map.values()))
            missing = [f for f in files if not (folder / f).is_file()]
            if missing:
                raise CheckpointError(
                    f"{index} lists {len(files)} shard files but {len(missing)} are missing from {folder}: "
                    f"{few(missing)}; download every shard"
                )
            return [folder / f for f in files]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (folder / single).is_file():
            return [folder / single]
    loose = sorted(folder.glob("*.safetensors"))
    if loose:
        return loose
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    raise CheckpointError(
        f"no weights found in {folder}: expected model.safetensors(.index.json) or "
        f"pytorch_model.bin(.index.json); the folder holds {few(present) or 'nothing'}"
    )


def _load_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise CheckpointError(f"cannot read {path}: {e}") from e
        state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except Exception as e:  # noqa: BLE001 - pickle/zip errors of a broken file
        raise CheckpointError(f"cannot read {path}: {e}; re-download or re-save it") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict (found {type(state).__name__})")
    return state


def list_tensors(files: list[Path]) -> dict[str, TensorInfo]:
    """Name → :class:`TensorInfo` for every tensor of the given weight files (headers only)."""
    out: dict[str, TensorInfo] = {}
    for path in files:
        if path.suffix == ".safetensors":
            try:
                with safe_open(path, framework="pt") as f:
                    for name in f.keys():
                        sl = f.get_slice(name)
                        out[name] = TensorInfo(
                            path, tuple(sl.get_shape()), _SAFETENSORS_DTYPES[sl.get_dtype()]
                        )
            except CheckpointError:
                raise
            except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
                raise CheckpointError(f"cannot read {path}: {e}; re-download or re-save it") from e
        else:
            for name, t in _load_bin(path).items():
                if isinstance(t, torch.Tensor):
                    out[name] = TensorInfo(path, tuple(t.shape), t.dtype)
    return out


@contextmanager
def open_weights(path: Path) -> Iterator[dict[str, torch.Tensor] | _SafeTensors]:
    """A mapping-like reader of one weight file: ``reader[name]`` gives a (memory-mapped) tensor."""
    if path.suffix == ".safetensors":
        with safe_open(path, framework="pt") as f:
            yield _SafeTensors(f)
    else:
        yield _load_bin(path)


class _SafeTensors:
    def __init__(self, handle) -> None:  # noqa: ANN001 - safetensors' handle type is private
        self._h = handle

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._h.get_tensor(name)


def copy_side_files(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy tokenizer/generation/preprocessor files and licences from ``src`` to ``dst``; their names."""
    copied = []
    if Path(src).resolve() == Path(dst).resolve():
        return copied
    for path in sorted(Path(src).iterdir()):
        if path.is_file() and path.name not in skip and any(fnmatch(path.name, pat) for pat in SIDE_FILES):
            shutil.copy2(path, Path(dst) / path.name)
            copied.append(path.name)
    return copied


def few(items: list[str], n: int = 5) -> str:
    """The first ``n`` items and a count of the rest, for error messages."""
    items = list(items)
    head = ", ".join(str(x) for x in items[:n])
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def feature_extractor_config(n_mels: int, processor_class: str, return_attention_mask: bool) -> dict:
    """``preprocessor_config.json`` of a transformers ``WhisperFeatureExtractor`` with our front end."""
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "processor_class": processor_class,
        "feature_size": n_mels,
        "sampling_rate": 16000,
        "hop_length": 160,
        "n_fft": 400,
        "chunk_length": 30,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": return_attention_mask,
        "dither": 0.0,
    }
