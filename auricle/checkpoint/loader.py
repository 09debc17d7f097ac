"""Loading an AudioLM from a checkpoint folder in any of the three layouts, lazily.

The model is built on the meta device (no memory), the checkpoint is checked against it from file
headers alone (every tensor present, nothing unexpected, shapes right), then each tensor is read
memory-mapped, cast to the requested dtype, moved to the device and assigned, one at a time. With
no dtype change on CPU the parameters keep sharing pages with the files: the peak is about one copy
of the weights (plus one shard when casting).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from auricle.checkpoint import configs
from auricle.checkpoint.files import TensorInfo, few, list_tensors, open_weights, read_json, weight_files
from auricle.checkpoint.keymap import (
    QWEN2_AUDIO_HUB,
    QWEN2_AUDIO_RUNTIME,
    QWEN2_LM,
    QWEN_AUDIO,
    QWEN_AUDIO_IGNORED,
    V1_CATTN,
    rename,
)
from auricle.errors import CheckpointError, ConfigError
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig
from auricle.model.encoder import sinusoids

LAYOUTS = ("qwen-audio", "qwen2-audio", "auricle")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_V1_DERIVED = (".rotary_emb.inv_freq", ".attn.masked_bias")  # buffers older v1 files carry


@dataclass(frozen=True)
class Route:
    """Checkpoint tensor ``source`` (its ``chunk``-th of ``chunks`` row blocks) → model tensor ``target``."""

    source: str
    target: str
    chunk: int = 0
    chunks: int = 1

    def apply(self, t: torch.Tensor) -> torch.Tensor:
        """The part of checkpoint tensor ``t`` this route takes (a view, no copy)."""
        return t if self.chunks == 1 else t.chunk(self.chunks, dim=0)[self.chunk]

    def shape(self, src: tuple[int, ...]) -> tuple[int, ...] | None:
        """The target's shape for a source of shape ``src`` (None if it cannot be split evenly)."""
        if self.chunks == 1:
            return src
        if not src or src[0] % self.chunks:
            return None
        return (src[0] // self.chunks, *src[1:])


@dataclass
class LoadedCheckpoint:
    """What :func:`load_checkpoint` returns: the model, its config, where it came from and the layout."""

    model: AudioLM
    config: AudioLMConfig
    folder: Path
    layout: str


# ------------------------------------------------------------------------------------ detection
def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint folder of ``path`` (a folder or its config.json), checked to hold config.json."""
    p = Path(path).expanduser()
    if p.is_file() and p.name == "config.json":
        p = p.parent
    if not p.is_dir():
        raise CheckpointError(f"checkpoint folder {p} does not exist (give the folder holding config.json)")
    if not (p / "config.json").is_file():
        hint = (
            " (it looks like a Whisper checkpoint: use build_from_parts)"
            if (p / "model.bin").is_file()
            else ""
        )
        raise CheckpointError(
            f"{p} has no config.json{hint}; a checkpoint folder needs config.json and weights"
        )
    return p


def detect_layout(path: str | Path) -> str:
    """``"qwen-audio"`` (official v1), ``"qwen2-audio"`` (Hugging Face v2) or ``"auricle"`` (ours)."""
    folder = checkpoint_folder(path)
    c = read_json(folder / "config.json")
    if c.get(configs.FORMAT_KEY) == configs.FORMAT_NAME:
        return "auricle"
    model_type = c.get("model_type")
    if model_type == "qwen" and "audio" in c:
        return "qwen-audio"
    if model_type == "qwen2_audio":
        return "qwen2-audio"
    hint = {
        "whisper": "it is a Whisper model: use build_from_parts or read_whisper",
        "qwen": "it is a text-only Qwen model: use build_from_parts to add an audio encoder",
        "qwen2": "it is a text-only Qwen2 model: use build_from_parts to add an audio encoder",
    }.get(model_type, "convert it to one of these layouts first")
    raise CheckpointError(
        f"{folder}/config.json (model_type={model_type!r}) is not a known audio-LM layout; expected one of "
        f"{list(LAYOUTS)}: {hint}"
    )


def read_config(folder: Path, layout: str) -> AudioLMConfig:
    """The AudioLMConfig of a checkpoint folder of the given layout."""
    c = read_json(folder / "config.json")
    if layout == "auricle":
        return configs.from_auricle(c)
    gen_path = folder / "generation_config.json"
    gen = read_json(gen_path) if gen_path.is_file() else None
    return configs.from_qwen_audio(c, gen) if layout == "qwen-audio" else configs.from_qwen2_audio(c, gen)


# ------------------------------------------------------------------------------------ routes
def routes_for(layout: str, names: list[str]) -> tuple[list[Route], list[str]]:
    """Routes from checkpoint names to auricle names, and the names no rule takes (unexpected).

    ``layout`` is one of :data:`LAYOUTS` or, for an LLM alone, ``"qwen2-lm"`` / ``"qwen-lm"``.
    """
    routes: list[Route] = []
    rest = list(names)
    if layout == "auricle":
        return [Route(n, n) for n in names], []
    if layout in ("qwen-audio", "qwen-lm"):
        rest = []
        for n in names:
            m = V1_CATTN.match(n)
            if m:
                routes += [
                    Route(n, f"text.layers.{m.group(1)}.attn.{x}.{m.group(2)}", j, 3)
                    for j, x in enumerate("qkv")
                ]
            elif n not in QWEN_AUDIO_IGNORED and not n.endswith(_V1_DERIVED):
                rest.append(n)
        rules = [QWEN_AUDIO]
    elif layout == "qwen2-audio":
        rules = [QWEN2_AUDIO_HUB, QWEN2_AUDIO_RUNTIME]
    elif layout == "qwen2-lm":
        rules = [QWEN2_LM]
    else:
        raise ConfigError(f"unknown layout {layout!r}; valid: {[*LAYOUTS, 'qwen2-lm', 'qwen-lm']}")
    for rule in rules:
        mapping = rename(rest, rule)
        routes += [Route(src, dst) for src, dst in mapping.items()]
        rest = [n for n in rest if n not in mapping]
    return routes, rest


def official_name(layout: str, target: str) -> str:
    """The checkpoint name a model tensor is expected under, for error messages."""
    if layout == "auricle":
        return target
    if layout in ("qwen-audio", "qwen-lm") and target.startswith("text.layers.") and ".attn." in target:
        parts = target.split(".")
        if parts[4] in "qkv":
            return f"transformer.h.{parts[2]}.attn.c_attn.{parts[5]}"
    rules = {"qwen-audio": QWEN_AUDIO, "qwen-lm": QWEN_AUDIO, "qwen2-audio": QWEN2_AUDIO_HUB}.get(
        layout, QWEN2_LM
    )
    return rename([target], rules, reverse=True).get(target, target)


# ------------------------------------------------------------------------------------ checking
def expected_tensors(model: nn.Module, prefixes: tuple[str, ...] | None = None) -> dict[str, tuple[int, ...]]:
    """Persistent tensors the model needs from a checkpoint (tied copies once), with their shapes."""
    out: dict[str, tuple[int, ...]] = {}
    seen: set[int] = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in seen or (prefixes and not name.startswith(prefixes)):
            continue
        seen.add(id(t))
        out[name] = tuple(t.shape)
    return out


def check_routes(
    routes: list[Route],
    unexpected: list[str],
    infos: dict[str, TensorInfo],
    expected: dict[str, tuple[int, ...]],
    where: str,
    layout: str,
) -> None:
    """Raise one :class:`CheckpointError` listing missing, unexpected and mis-shaped tensors."""
    covered = {r.target for r in routes}
    unexpected = unexpected + [r.source for r in routes if r.target not in expected]
    missing = [n for n in expected if n not in covered]
    bad = []
    for r in routes:
        if r.target in expected:
            got = r.shape(infos[r.source].shape)
            if got != expected[r.target]:
                bad.append(
                    f"{r.source}: checkpoint {list(infos[r.source].shape)}, model {list(expected[r.target])}"
                )
    problems = []
    if missing:
        names = list(dict.fromkeys(official_name(layout, n) for n in missing))  # q, k, v may share one
        problems.append(f"{len(names)} missing ({few(names)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({few(sorted(set(unexpected)))})")
    if bad:
        problems.append(f"{len(bad)} with the wrong shape ({few(bad, 3)})")
    if problems:
        raise CheckpointError(
            f"{where} (layout {layout}) does not match the model its config describes: "
            + "; ".join(problems)
            + ". Check that config.json belongs to these weights, that no shard is missing or truncated, "
            "and that the layout is right (re-download, or re-convert with `auricle convert`)."
        )


# ------------------------------------------------------------------------------------ loading
def resolve_dtype(
    dtype: str | torch.dtype, infos: dict[str, TensorInfo], device: torch.device
) -> torch.dtype:
    """``"auto"``: the checkpoint's dtype on an accelerator, float32 on CPU; ``"checkpoint"``: the
    checkpoint's dtype anywhere (what conversions use); else the named dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ConfigError(f"dtype {dtype} is not supported; choose auto, {', '.join(DTYPES)}")
        return dtype
    if dtype not in ("auto", "checkpoint"):
        if dtype not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not valid; choose auto, checkpoint, {', '.join(DTYPES)}")
        return DTYPES[dtype]
    stored = checkpoint_dtype(infos)
    if dtype == "checkpoint":
        return stored
    if device.type == "cpu":
        return torch.float32
    if stored == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return stored


def checkpoint_dtype(infos: dict[str, TensorInfo]) -> torch.dtype:
    """The floating dtype holding most of a checkpoint's bytes."""
    by_dtype: dict[torch.dtype, int] = {}
    for info in infos.values():
        if info.dtype.is_floating_point:
            by_dtype[info.dtype] = by_dtype.get(info.dtype, 0) + info.nbytes
    return max(by_dtype, key=by_dtype.get) if by_dtype else torch.float32


def assign(model: nn.Module, name: str, value: torch.Tensor) -> None:
    """Replace parameter or buffer ``name`` by ``value`` (keeping ``requires_grad`` of a parameter)."""
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name)
    old = module._parameters.get(leaf)
    if old is not None:
        module._parameters[leaf] = nn.Parameter(value, requires_grad=old.requires_grad)
    else:
        module._buffers[leaf] = value


def load_routes(
    model: nn.Module,
    routes: list[Route],
    infos: dict[str, TensorInfo],
    dtype: torch.dtype,
    device: torch.device,
    progress: bool | None = None,
) -> None:
    """Read every routed tensor, file by file, cast, move and assign it into ``model``.

    No reference to a file's tensors outlives its ``with`` block unless a tensor is assigned as it is
    (same dtype, CPU), so a shard's file pages are released before the next shard is read.
    """
    by_file: dict[Path, list[Route]] = {}
    for r in routes:
        by_file.setdefault(infos[r.source].file, []).append(r)
    total = sum(infos[n].nbytes for n in {r.source for r in routes})
    disable = (None if total >= 2**30 else True) if progress is None else not progress
    with tqdm(total=total, unit="B", unit_scale=True, desc="loading", disable=disable) as bar:
        for path, file_routes in by_file.items():
            done: set[str] = set()
            with open_weights(path) as reader:
                for r in file_routes:
                    assign(model, r.target, _cast(r.apply(reader[r.source]), dtype, device))
                    if r.source not in done:
                        done.add(r.source)
                        bar.update(infos[r.source].nbytes)


def _cast(t: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return t.to(device=device, dtype=dtype if t.is_floating_point() else None)


def finish_meta(model: AudioLM, dtype: torch.dtype, device: torch.device) -> None:
    """Fill the derived (non-persistent) buffers left on meta, re-tie embeddings, set eval mode."""
    cfg = model.cfg
    if model.encoder.positions.is_meta:
        table = sinusoids(cfg.encoder.n_ctx, cfg.encoder.d_model).to(device=device, dtype=dtype)
        assign(model, "encoder.positions", table)
    model.tie_weights()
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"internal: tensors not loaded: {few(left)}")
    model.eval()


def _check_v1_positions(folder: Path, infos: dict[str, TensorInfo], model: AudioLM) -> None:
    """v1 stores its sinusoid table; auricle recomputes it, so the stored one must be that table."""
    name = QWEN_AUDIO_IGNORED[0]
    if name not in infos:
        return
    with open_weights(infos[name].file) as reader:
        stored = reader[name].float()
    ref = sinusoids(model.cfg.encoder.n_ctx, model.cfg.encoder.d_model)
    if stored.shape != ref.shape or (stored - ref).abs().max() > 1e-2:
        raise CheckpointError(
            f"{folder}: {name} {list(stored.shape)} is not Whisper's sinusoid table {list(ref.shape)}; "
            "auricle's v1 encoder uses fixed sinusoids, so this checkpoint cannot be loaded as Qwen-Audio"
        )


def load_checkpoint(
    path: str | Path,
    *,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> LoadedCheckpoint:
    """Load an AudioLM from a checkpoint folder in the official v1, HF v2 or auricle layout.

    ``dtype``: ``"auto"`` (the checkpoint's own dtype on GPU, float32 on CPU), ``"checkpoint"`` (its
    own dtype everywhere), ``"float32"``, ``"bfloat16"``, ``"float16"`` or a torch dtype. ``device``: where the weights go (``"cpu"``,
    ``"cuda"``, ``"cuda:1"``…). ``progress``: force the progress bar on/off (default: on for
    checkpoints of 1 GiB or more, when writing to a terminal).
    """
    folder = checkpoint_folder(path)
    layout = detect_layout(folder)
    cfg = read_config(folder, layout)
    infos = list_tensors(weight_files(folder))
    device = torch.device(device)
    target_dtype = resolve_dtype(dtype, infos, device)
    with torch.device("meta"):
        model = AudioLM(cfg)
    routes, unexpected = routes_for(layout, list(infos))
    expected = expected_tensors(model)
    if cfg.text.tie_embeddings:  # a tied head may or may not be saved; it is never read
        routes = [r for r in routes if r.target != "lm_head.weight"]
    check_routes(routes, unexpected, infos, expected, str(folder), layout)
    if layout == "qwen-audio":
        _check_v1_positions(folder, infos, model)
    load_routes(model, routes, infos, target_dtype, device, progress)
    finish_meta(model, target_dtype, device)
    return LoadedCheckpoint(model=model, config=cfg, folder=folder, layout=layout)
