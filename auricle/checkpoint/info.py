"""What a checkpoint holds, from its config and file headers alone (nothing is loaded)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from auricle.checkpoint.files import SIDE_FILES, list_tensors, weight_files
from auricle.checkpoint.loader import checkpoint_folder, detect_layout, read_config, routes_for
from auricle.checkpoint.variant import CHAT_VARIANT, variant_summary
from auricle.checkpoint.whisper import detect_whisper_layout, read_whisper
from auricle.errors import CheckpointError

_PARTS = ("encoder", "projector", "audio_bos_eos", "text", "lm_head")


@dataclass
class CheckpointInfo:
    """A summary of a checkpoint: layout, config, parameter counts, dtypes and files."""

    path: str
    layout: str
    family: str
    config: dict[str, Any]
    parameters: int
    parameters_by_part: dict[str, int]
    dtypes: dict[str, int]  # dtype name -> parameter count
    files: dict[str, int]  # file name -> bytes
    side_files: list[str] = field(default_factory=list)
    chat_variant: dict[str, int] | None = None  # parameters, tensors, bytes of a chat/ variant

    @property
    def total_bytes(self) -> int:
        """Size of all weight files."""
        return sum(self.files.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {**dataclasses.asdict(self), "total_bytes": self.total_bytes}


def checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Summarise an AudioLM checkpoint folder (any layout) or a Whisper checkpoint."""
    try:
        folder = checkpoint_folder(path)
        layout = detect_layout(folder)
    except CheckpointError:
        try:
            detect_whisper_layout(path)
        except CheckpointError:
            raise CheckpointError(
                f"{path} is neither an audio-LM checkpoint (qwen-audio, qwen2-audio, auricle) nor a Whisper "
                "checkpoint (openai .pt, transformers folder, faster-whisper folder)"
            ) from None
        return _whisper_info(Path(path))
    cfg = read_config(folder, layout)
    files = weight_files(folder)
    infos = list_tensors(files)
    routes, _ = routes_for(layout, list(infos))
    by_part = dict.fromkeys(_PARTS, 0)
    for r in routes:
        numel = 1
        for d in infos[r.source].shape:
            numel *= d
        part = r.target.split(".")[0]
        by_part[part] = by_part.get(part, 0) + numel // r.chunks
    dtypes: dict[str, int] = {}
    for info in infos.values():
        name = str(info.dtype).removeprefix("torch.")
        dtypes[name] = dtypes.get(name, 0) + info.nbytes // info.dtype.itemsize
    side = sorted(p.name for p in folder.iterdir() if any(fnmatch(p.name, pat) for pat in SIDE_FILES))
    return CheckpointInfo(
        path=str(folder),
        layout=layout,
        family=cfg.family,
        config=cfg.to_dict(),
        parameters=sum(by_part.values()),
        parameters_by_part={k: v for k, v in by_part.items() if v},
        dtypes=dtypes,
        files={p.name: p.stat().st_size for p in files},
        side_files=side,
        chat_variant=variant_summary(folder / CHAT_VARIANT),
    )


def _whisper_info(path: Path) -> CheckpointInfo:
    w = read_whisper(path, with_decoder=True)
    state = w.full_state_hf or {}
    dtypes: dict[str, int] = {}
    for t in state.values():
        name = str(t.dtype).removeprefix("torch.")
        dtypes[name] = dtypes.get(name, 0) + t.numel()
    enc = sum(t.numel() for k, t in state.items() if k.startswith("model.encoder."))
    folder = w.path if w.path.is_dir() else w.path.parent
    weights = (
        [w.path]
        if w.path.is_file()
        else [p for p in folder.iterdir() if p.suffix in (".bin", ".safetensors")]
    )
    side = sorted(p.name for p in folder.iterdir() if any(fnmatch(p.name, pat) for pat in SIDE_FILES))
    return CheckpointInfo(
        path=str(w.path),
        layout=f"whisper-{w.layout}",
        family="whisper",
        config={"dims": w.dims, "encoder": dataclasses.asdict(w.encoder_config)},
        parameters=sum(dtypes.values()),
        parameters_by_part={"encoder": enc, "decoder": sum(dtypes.values()) - enc},
        dtypes=dtypes,
        files={p.name: p.stat().st_size for p in weights},
        side_files=side,
    )


def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000 or prefix == "T":
            text = f"{n:.0f} {prefix}{unit}" if prefix == "" else f"{n:.1f} {prefix}{unit}"
            return text.strip()
        n /= 1000
    return f"{n} {unit}"


def format_info(info: CheckpointInfo) -> str:
    """A human-readable, multi-line summary."""
    lines = [f"checkpoint  {info.path}", f"layout      {info.layout} (family {info.family})"]
    c = info.config
    if info.family == "whisper":
        d = c["dims"]
        lines.append(
            f"encoder     {d['n_audio_layer']} layers, d_model {d['n_audio_state']}, {d['n_audio_head']} heads, "
            f"{d['n_mels']} mels, {d['n_audio_ctx']} positions"
        )
        lines.append(
            f"decoder     {d['n_text_layer']} layers, vocab {d['n_vocab']}, {d['n_text_ctx']} positions"
        )
    else:
        e, t = c["encoder"], c["text"]
        lines.append(
            f"encoder     {e['n_layers']} layers, d_model {e['d_model']}, {e['n_heads']} heads, ffn {e['ffn_dim']}, "
            f"{e['n_mels']} mels, positions {e['positions']}"
            + (f", taps after blocks {e['tap_layers']}" if e.get("tap_layers") else "")
            + (f", {e['stack']} pooled states per audio token" if e.get("stack", 1) != 1 else "")
        )
        lines.append(
            f"text        {t['n_layers']} layers, hidden {t['hidden_size']}, {t['n_heads']} heads / "
            f"{t['n_kv_heads']} kv heads, ffn {t['intermediate_size']}, vocab {t['vocab_size']}, "
            f"rope theta {t['rope_theta']:g}"
        )
        lines.append(f"audio       boundary {c['audio_boundary']}, prompts {c['prompt_style']}")
    parts = ", ".join(f"{k} {_human(v, '')}" for k, v in info.parameters_by_part.items())
    lines.append(f"parameters  {info.parameters:,} ({parts})")
    lines.append("dtypes      " + ", ".join(f"{k}: {_human(v, '')} params" for k, v in info.dtypes.items()))
    for i, (name, size) in enumerate(info.files.items()):
        lines.append(f"{'files' if i == 0 else '':<12}{name}  {_human(size)}")
    lines.append(f"{'':<12}total {_human(info.total_bytes)}")
    if info.chat_variant:
        v = info.chat_variant
        lines.append(
            f"chat        variant in {CHAT_VARIANT}/: {_human(v['parameters'], '')} params in {v['tensors']} tensors, "
            f"{_human(v['bytes'])} (chats run on it; docs/checkpoints.md)"
        )
    lines.append(
        f"side files  {', '.join(info.side_files) or 'none (no tokenizer files beside the weights)'}"
    )
    return "\n".join(lines)
