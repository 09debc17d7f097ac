"""A cache of audio-encoder states after its frozen blocks, for fast training on a CPU.

While the conv front end and the first ``k`` encoder blocks are frozen, their output for a clip
never changes: compute it once per audio file, store it (fp16 safetensors shards plus a JSON index),
and let training run only blocks ``[k, n)``, the pool, the projector and the decoder. With
``k = n_layers`` the whole encoder is frozen and only the pool onwards runs.

The index records a fingerprint of the frozen weights and of ``k``, and a digest of every audio
file's bytes: a cache made with other weights is rebuilt, never silently reused; with the same
weights, only the files that are new or whose bytes changed are computed (a corpus grown with
``auricle data synth --hours`` keeps the states of the clips it already had), and shards left
holding no clip of the corpus are deleted. Like git's index, the digest is recomputed only for a
file whose size or modification time differs from the ones recorded with it: checking a cache of
tens of thousands of unchanged clips costs a ``stat`` each, not a read. Waveform
augmentation cannot apply to cached states, so a recipe that caches must take its augmentation from
the corpus (``auricle data synth`` augments offline and records it in the manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from auricle.audio.features import audio_token_count, log_mel
from auricle.audio.io import load_audio
from auricle.data.examples import CachedAudio, audio_num_samples
from auricle.errors import ConfigError
from auricle.model.audiolm import AudioLM

INDEX = "index.json"
SHARD = "shard-{:05d}.safetensors"  # shard files, numbered from 0
SHARD_CLIPS = 512
RACY_NS = 2_000_000_000  # files modified less than this before the index was written are re-read
PRECISIONS = ("fp32", "bf16")  # of the frozen blocks: plain fp32, or under bf16 autocast
_SHARD_PREFIX, _SHARD_SUFFIX = SHARD.split("{:05d}")


def frozen_parameter_patterns(layers: int) -> list[str]:
    """Regexes (auricle names) of the parameters a cache of ``layers`` blocks keeps fixed."""
    blocks = "|".join(str(i) for i in range(layers))
    pats = [r"encoder\.conv1\..*", r"encoder\.conv2\..*", r"encoder\.positions"]
    return pats + ([rf"encoder\.blocks\.({blocks})\..*"] if layers else [])


def fingerprint(model: AudioLM, layers: int, precision: str = "fp32", pooled: bool = False) -> str:
    """Hash of the frozen weights (front end and the first ``layers`` blocks), of ``layers``, of the
    precision the states were computed in, of the encoder taps they carry and of their pooling."""
    if precision not in PRECISIONS:
        raise ConfigError(f"encoder cache precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    # fp32 adds nothing to the hash, so that caches built before the option existed stay valid
    tag = "" if precision == "fp32" else f";precision={precision}"
    taps = [t for t in model.cfg.encoder.tap_layers if t < layers]  # the taps the states carry
    tag += f";taps={taps}" if taps else ""
    tag += ";pooled" if pooled else ""
    h = hashlib.sha256(f"layers={layers};rule={model.cfg.encoder.length_rule}{tag}".encode())
    enc = model.encoder
    modules = [enc.conv1, enc.conv2, *enc.blocks[:layers]]
    for m in modules:
        for name, p in sorted(m.state_dict().items()):
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    h.update(enc.positions.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class EncoderCache:
    """Read access to a built cache: ``cache[path] -> CachedAudio``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder / INDEX).read_text())
        self.layers: int = meta["layers"]
        self.fingerprint: str = meta["fingerprint"]
        self.pooled: bool = meta.get("pooled", False)  # states pooled by the encoder's average pool
        # path -> [shard, key, num_samples, digest, size, mtime_ns] (older caches lack the last two)
        self.entries: dict[str, list] = meta["entries"]
        self._open: dict[str, object] = {}

    def __contains__(self, path: str | Path) -> bool:
        return str(Path(path).resolve()) in self.entries

    def __getitem__(self, path: str | Path) -> CachedAudio:
        key = str(Path(path).resolve())
        if key not in self.entries:
            raise KeyError(
                f"{path} is not in the encoder cache {self.folder}; rebuild it (delete the folder)"
            )
        shard, name, num_samples = self.entries[key][:3]
        if shard not in self._open:  # opened lazily, so DataLoader workers each open their own
            self._open[shard] = safe_open(str(self.folder / shard), framework="pt")
        return CachedAudio(self._open[shard].get_tensor(name), int(num_samples), self.pooled)


@torch.no_grad()
def build_encoder_cache(
    model: AudioLM,
    audio_paths: Iterable[str | Path],
    folder: str | Path,
    layers: int,
    *,
    batch_size: int = 8,
    precision: str = "fp32",
    pooled: bool = False,
    progress: bool = True,
) -> EncoderCache:
    """Compute the states after ``layers`` frozen blocks for every path, reusing up-to-date ones.

    An entry is reused when the cache was made with the same frozen weights and precision
    (fingerprint) and the file's bytes are unchanged (digest, recomputed only when the file's size
    or modification time moved); the rest are computed into new shards. ``precision="bf16"`` runs
    the frozen blocks under bf16 autocast (faster where the hardware has bf16 units; the states
    are stored in float16 either way). ``pooled`` (only with the whole encoder frozen) stores its
    output after the average pool, before the norms: half the positions, so half the disk and reads.
    """
    if pooled and layers != model.cfg.encoder.n_layers:
        raise ConfigError(
            f"a pooled encoder cache needs the whole encoder frozen (cached_encoder_layers = "
            f"{model.cfg.encoder.n_layers}), got {layers}: blocks that train must see unpooled states"
        )
    folder = Path(folder)
    fp = fingerprint(model, layers, precision, pooled)
    paths = sorted({str(Path(p).resolve()) for p in audio_paths})
    cache = EncoderCache(folder) if (folder / INDEX).is_file() else None
    usable = cache is not None and cache.fingerprint == fp and cache.layers == layers
    known = cache.entries if usable else {}
    # a file changed within a clock tick of its recorded stat keeps its mtime: trust only files last
    # written a while before the index was (git's "racy" entries get the same treatment)
    settled = os.stat(folder / INDEX).st_mtime_ns - RACY_NS if usable else 0
    stats = {p: _stat(p) for p in paths}
    digests = {
        p: known[p][3] if known.get(p, [])[4:6] == stats[p] and stats[p][1] < settled else file_digest(p)
        for p in paths
    }
    entries = {
        p: [*e[:3], digests[p], *stats[p]] for p, e in known.items() if p in digests and e[3] == digests[p]
    }
    if len(entries) == len(paths):
        merged = {**known, **entries}  # entries of files outside this corpus stay, as do their shards
        if merged != known:  # same states, new file times (or an index from before they were kept)
            _write_index(folder, layers, fp, merged, pooled)
        return EncoderCache(folder)
    if not entries:  # nothing reusable: free the disk before computing
        _remove_shards_except(folder, keep=set())
    folder.mkdir(parents=True, exist_ok=True)
    # new shards are numbered after the ones that keep reused entries
    shard_id = 1 + max((_shard_number(e[0]) for e in entries.values()), default=-1)
    todo = [p for p in paths if p not in entries]
    cfg = model.cfg.encoder
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # similar lengths together: less padding in each encoder batch
    lengths = {p: audio_num_samples(p) for p in todo}
    order = sorted(todo, key=lambda p: lengths[p])
    shard_tensors: dict[str, torch.Tensor] = {}
    desc = f"encoder cache ({layers} blocks, {len(entries)} reused)"
    bar = tqdm(total=len(order), desc=desc, disable=not progress, unit="clip")
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        audios = [load_audio(p) for p in chunk]
        mel = log_mel(audios, cfg.n_mels, device=device)
        frames = audio_token_count(mel.num_samples, cfg.length_rule).mel_frames
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            states, lengths = model.encoder.hidden_states(mel.features, frames.to(device), stop_layer=layers)
            if pooled:
                states, lengths = model.encoder.pool_states(states.float(), lengths)
        for p, a, s, c in zip(chunk, audios, states, lengths.tolist()):
            name = f"a{len(shard_tensors)}"
            shard_tensors[name] = s[:c].to(torch.float16).contiguous().cpu()
            entries[p] = [SHARD.format(shard_id), name, len(a), digests[p], *stats[p]]
        if len(shard_tensors) >= SHARD_CLIPS or start + batch_size >= len(order):
            _atomic_save(shard_tensors, folder / SHARD.format(shard_id))
            shard_tensors, shard_id = {}, shard_id + 1
        bar.update(len(chunk))
    bar.close()
    model.train(was_training)
    _write_index(folder, layers, fp, entries, pooled)  # only once every shard is written
    # shards whose clips all left the corpus (or changed) are no longer referenced: delete them
    _remove_shards_except(folder, keep={e[0] for e in entries.values()})
    return EncoderCache(folder)


def file_digest(path: str | Path) -> str:
    """BLAKE2b digest (hex, 16 bytes) of a file's bytes: what tells a changed audio file apart."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def _stat(path: str) -> list[int]:
    """Size and modification time (ns) of a file: when both are unchanged, so is its recorded digest."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _write_index(folder: Path, layers: int, fp: str, entries: dict[str, list], pooled: bool) -> None:
    tmp = folder / (INDEX + ".tmp")
    meta = {"layers": layers, "fingerprint": fp, "pooled": pooled, "entries": entries}
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / INDEX)


def _shard_number(name: str) -> int:
    """The number in a shard file name made with ``SHARD``."""
    return int(name.removeprefix(_SHARD_PREFIX).removesuffix(_SHARD_SUFFIX))


def _remove_shards_except(folder: Path, keep: set[str]) -> None:
    """Delete the shard files (and half-written ones) in ``folder`` whose names are not in ``keep``."""
    for path in [*folder.glob(_SHARD_PREFIX + "*" + _SHARD_SUFFIX), *folder.glob(_SHARD_PREFIX + "*.tmp")]:
        if path.name not in keep:
            path.unlink()


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)
