"""The training loop: one recipe in, a trained model folder out.

    python -m auricle.train tiny-test log.out_dir=runs/tiny                 # one process (CPU or GPU)
    torchrun --nproc-per-node 8 -m auricle.train sft-lora-7b                # FSDP2 over 8 GPUs
    python -m auricle.train RECIPE.yaml --resume                            # continue the newest checkpoint

Each optimizer step takes ``train.grad_accum`` micro-batches; its loss is the sum of the target-token
losses of all of them, on all ranks, divided by their total number of target tokens. Every rank
back-propagates its share of that sum, so the gradients (and hence the run) are those of one process
holding the whole global batch.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auricle.data.collate import Batch, Collator
from auricle.data.examples import ctc_classes
from auricle.errors import CheckpointError, ConfigError
from auricle.train import setup
from auricle.train.config import Recipe, dump_recipe
from auricle.train.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    cleanup,
    init_distributed,
    shard_model,
)
from auricle.train.ema import WeightAverage
from auricle.train.encoder_cache import EncoderCache, build_encoder_cache, frozen_parameter_patterns
from auricle.train.evaluate import decode_metrics, validation_loss
from auricle.train.export import export_model
from auricle.train.freeze import apply_freezing
from auricle.train.logs import RunLogger
from auricle.train.lora import add_lora
from auricle.train.losses import CTCHead, ctc_loss_sum, lm_loss_sums, target_rows
from auricle.train.memory import TRIM_EVERY, release_free_memory
from auricle.train.state import find_latest, load_training_state, save_training_state


@dataclass
class TrainResult:
    """What a run did: the per-step training losses it computed and where it wrote."""

    start_step: int
    step: int
    losses: list[float] = field(default_factory=list)  # one per step run by this call
    out_dir: Path = Path(".")
    model_dir: Path | None = None  # the exported model folder (None if this run stopped early)


class WarmupCosine:
    """LR multiplier: linear warmup over ``warmup`` steps, then cosine decay to ``min_ratio``."""

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _precision(recipe: Recipe, device: torch.device) -> torch.dtype | None:
    p = recipe.train.precision
    if p == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if p == "bf16" else None


class Trainer:
    """Holds the pieces of one run; :meth:`run` executes it. Use :func:`train` for the one-call form."""

    def __init__(self, recipe: Recipe, info: DistInfo, *, training: bool = True) -> None:
        """``training=False`` builds only what :meth:`evaluate` needs (no training set, encoder cache,
        compilation or optimizer): see :func:`validate`."""
        self.recipe, self.info = recipe, info
        r = recipe
        if r.train.grad_accum < 1 or r.train.max_steps < 1:
            raise ConfigError("train.grad_accum and train.max_steps must be at least 1")
        if not 0.0 <= r.train.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing must be in [0, 1), got {r.train.label_smoothing}")
        _seed_all(r.train.seed)  # identical initialisation on every rank
        self.tokenizer = setup.build_tokenizer(r, info)
        model = setup.build_model(r, self.tokenizer)
        if r.lora.enabled:
            add_lora(model, r.lora.r, r.lora.alpha, r.lora.dropout, r.lora.target_modules)
        k = r.train.cached_encoder_layers
        if not 0 <= k <= model.cfg.encoder.n_layers:
            raise ConfigError(
                f"train.cached_encoder_layers = {k}; the encoder has {model.cfg.encoder.n_layers} blocks"
            )
        frozen = list(r.train.frozen) + (frozen_parameter_patterns(k) if k else [])
        self.trainable = apply_freezing(model, r.train.trainable, frozen, lora=r.lora.enabled)
        self.cfg = model.cfg
        self.ctc_head = None
        if r.ctc.weight > 0:
            width = self.cfg.encoder.pooled_dim if r.ctc.input == "encoder" else self.cfg.text.hidden_size
            self.ctc_head = CTCHead(width, ctc_classes(r.ctc.vocab, self.tokenizer))
            model.add_module("ctc_head", self.ctc_head)  # saved, sharded and optimised with the model
            self._audio_states: torch.Tensor | None = None
            # the projector sees every audio path (mel or cached states): its input is the encoder's
            # pooled output, its output the LLM's audio embeddings
            model.projector.register_forward_hook(self._capture_audio)
        if r.train.activation_checkpointing:
            setup.enable_activation_checkpointing(model)
        if r.train.compile and training:
            setup.compile_blocks(model, info.device)
        self.dtype = _precision(r, info.device)
        model.to(info.device)
        if info.distributed:
            shard_model(model, param_dtype=self.dtype, reshard_after_forward=r.dist.reshard_after_forward)
        self.model = model
        self.cached_layers = k
        self.valid_set = (
            setup.build_dataset(r, self.tokenizer, self.cfg, r.data.valid, train=False)
            if r.data.valid
            else None
        )
        self.out_dir = Path(r.log.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.step = 0
        if not training:
            return
        o = r.optim
        groups = [g for g in setup.param_groups(model, o.weight_decay) if g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps)
        self.schedule = WarmupCosine(o.warmup_steps, o.schedule_steps or r.train.max_steps, o.min_lr_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        t = r.train
        self.ema = WeightAverage(model, t.ema_decay, t.ema_start) if t.ema_decay != 0 else None
        torch.manual_seed(r.train.seed + info.rank)  # dropout differs per rank, as it should
        cache = self._encoder_cache(model) if k else None
        self.train_set = setup.build_dataset(
            r, self.tokenizer, self.cfg, r.data.train, train=True, encoder_cache=cache
        )
        self.sampler = setup.build_sampler(r, self.train_set, info, train=True)
        warning = setup.worker_oversubscription(
            r.data.num_workers, info.device, torch.get_num_threads(), setup.usable_cores()
        )
        if warning and info.is_main:
            print(f"auricle train: warning: {warning}", file=sys.stderr)

    # ------------------------------------------------------------------------------ pieces
    def _encoder_cache(self, model: torch.nn.Module) -> EncoderCache:
        """Build (rank 0) or open the cache of encoder states after the frozen blocks."""
        r = self.recipe
        folder = Path(r.train.encoder_cache or Path(r.log.out_dir) / "encoder_cache")
        if self.info.is_main:
            paths = setup.manifest_audio_paths(r.data.train)
            build_encoder_cache(
                model.to(self.info.device),
                paths,
                folder,
                r.train.cached_encoder_layers,
                precision=r.train.encoder_cache_precision,
                pooled=r.train.encoder_cache_pooled,
                progress=r.log.progress,
            )
        barrier(self.info)
        return EncoderCache(folder)

    def _capture_audio(self, _module: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        self._audio_states = inputs[0] if self.recipe.ctc.input == "encoder" else output

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where configured (and not already done by FSDP's mixed precision)."""
        if self.dtype is None or self.info.distributed:
            return contextlib.nullcontext()
        return torch.autocast(self.info.device.type, dtype=self.dtype)

    def decode_autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for generation, also under FSDP: the KV cache is allocated in the (fp32) weight
        dtype while FSDP computes in bf16, and autocast makes attention see one dtype."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.info.device.type, dtype=self.dtype)

    def _loader(self, dataset, sampler) -> torch.utils.data.DataLoader:
        return setup.build_loader(self.recipe, dataset, sampler, self.cfg, self.tokenizer, self.info.device)

    def resume(self, resume: str | bool | None) -> None:
        """Load a checkpoint: ``True`` = newest complete one in the run folder (none: start fresh)."""
        if not resume:
            return
        path = find_latest(self.ckpt_dir) if resume is True else Path(resume)
        if path is None:
            if self.info.is_main:
                print(f"auricle train: no complete checkpoint in {self.ckpt_dir}; starting from step 0")
            return
        if not path.is_dir():
            raise CheckpointError(f"--resume {path}: no such checkpoint folder")
        shadows = self.ema.state_dict() if self.ema else None
        extra = load_training_state(path, self.model, self.optimizer, self.info, ema=shadows)
        if self.ema and not extra["ema_loaded"]:  # turned on at this resume: average from here
            self.ema.reset()
            if self.info.is_main:
                print(f"auricle train: {path} has no weight average; it starts from its weights")
        # The recipe, not the checkpoint, defines the schedule (a resumed run may change max_steps):
        # skip LambdaLR's restore of the schedule object's fields and recompute the current LR.
        state = {**extra["scheduler"], "lr_lambdas": [None] * len(self.scheduler.lr_lambdas)}
        self.scheduler.load_state_dict(state)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self.schedule(self.scheduler.last_epoch)
        self.sampler.load_state_dict(extra["data"])
        self.step = int(extra["step"])

    def _forward_sums(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        with self.autocast():
            logits = self.model(
                batch.input_ids,
                batch.attention_mask,
                logit_rows=target_rows(batch.labels),
                **batch.audio_inputs(self.cached_layers),
            )
            lm, correct = lm_loss_sums(logits, batch.labels, self.recipe.train.label_smoothing)
            ctc = None
            if self.ctc_head is not None and batch.ctc_targets is not None:
                frames = batch.audio_token_lengths(self.cfg.encoder.n_ctx, self.cfg.encoder.stack)
                ctc = ctc_loss_sum(
                    self.ctc_head,
                    self._audio_states,
                    frames,
                    batch.ctc_audio,
                    batch.ctc_targets,
                    batch.ctc_lengths,
                )
        return lm, correct, ctc

    def train_step(self, micro: list[Batch]) -> dict[str, float]:
        """One optimizer step over ``micro`` (this rank's micro-batches, still on CPU); global metrics.

        Target counts come from the CPU copies, so the only host syncs of a step are the gradient
        norm and one transfer of the summed metrics at the end.
        """
        info = self.info
        local = [
            sum(b.num_targets for b in micro),
            sum(int(b.ctc_lengths.sum()) if b.ctc_lengths is not None else 0 for b in micro),
            sum(b.num_tokens for b in micro),
            sum(b.num_examples for b in micro),
        ]
        n_lm, n_ctc, tokens, samples = all_reduce_sum(local, info)
        if n_lm == 0:
            raise ConfigError("a training step has no target token; check the manifests' targets")
        # FSDP averages gradients over ranks; scaling by the world size turns that into the global sum
        scale = float(info.world_size)
        sums = torch.zeros(3, dtype=torch.float64, device=info.device)  # lm, correct, ctc
        for batch in micro:
            lm, correct, ctc = self._forward_sums(batch.to(info.device, non_blocking=True))
            loss = lm / n_lm
            if ctc is not None and n_ctc > 0:
                loss = loss + self.recipe.ctc.weight * ctc / n_ctc
                sums[2] += ctc.detach()
            (loss * scale).backward()
            sums[0] += lm.detach()
            sums[1] += correct
        clip = self.recipe.optim.grad_clip
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        lm_sum, correct, ctc_sum = all_reduce_sum(sums.tolist(), info)
        out = {"loss": lm_sum / n_lm, "accuracy": correct / n_lm, "lr": lr, "grad_norm": float(norm)}
        out.update({"targets": int(n_lm), "tokens": int(tokens), "samples": int(samples)})
        if n_ctc:
            out["ctc_loss"] = ctc_sum / n_ctc
        return out

    def _micro_batches(self, it: Iterator[Batch]) -> list[Batch]:
        return [next(it) for _ in range(self.recipe.train.grad_accum)]

    def evaluate(self) -> dict[str, float]:
        """Validation loss/accuracy and, if configured, the decode metrics."""
        if self.valid_set is None:
            return {}
        r = self.recipe
        self.model.eval()
        sampler = setup.build_sampler(r, self.valid_set, self.info, train=False)
        metrics = validation_loss(
            self.model, self._loader(self.valid_set, sampler), self.info, self.autocast, r.log.eval_batches
        )
        if r.log.decode_examples:
            collate = Collator(self.tokenizer.pad_id, self.cfg.encoder.n_mels, self.cfg.encoder.length_rule)
            metrics.update(
                decode_metrics(
                    self.model,
                    self.valid_set,
                    self.tokenizer,
                    collate,
                    self.info.device,
                    self.decode_autocast,
                    r.log.decode_examples,
                    r.log.max_new_tokens,
                )
            )
        self.model.train()
        return metrics

    def save(self, position: dict[str, int]) -> Path:
        """A resumable checkpoint of the current step."""
        extra = {"step": self.step, "scheduler": self.scheduler.state_dict(), "data": position}
        return save_training_state(
            self.ckpt_dir,
            self.step,
            self.model,
            self.optimizer,
            extra,
            self.info,
            self.recipe.log.keep_last,
            ema=self.ema.state_dict() if self.ema else None,
        )

    # ------------------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        """Train from the current step to ``train.max_steps``; export the model at the end."""
        r, info = self.recipe, self.info
        result = TrainResult(self.step, self.step, out_dir=self.out_dir)
        log = RunLogger(
            self.out_dir,
            enabled=info.is_main,
            tensorboard=r.log.tensorboard,
            progress=r.log.progress,
            total=r.train.max_steps,
            start=self.step,
        )
        if info.is_main:
            dump_recipe(r, self.out_dir / "recipe.yaml")
            skipped = dict(self.train_set.skipped)
            log.message(
                f"auricle train: {self.trainable}{' + a CTC head' if self.ctc_head else ''}; "
                f"{len(self.train_set)} training examples" + (f" (skipped {skipped})" if skipped else "")
            )
        self.model.train()
        it = iter(self._loader(self.train_set, self.sampler))
        position = self.sampler.state_dict()
        t_last, tokens_since, samples_since = time.time(), 0.0, 0
        try:
            while self.step < r.train.max_steps:
                micro = self._micro_batches(it)
                key = micro[-1].keys[0]
                position = self.sampler.position_after(key.epoch, key.batch)
                metrics = self.train_step(micro)
                self.step += 1
                if self.ema is not None:
                    self.ema.update(self.step)
                if self.step % TRIM_EVERY == 0:
                    release_free_memory()
                result.losses.append(metrics["loss"])
                tokens_since += metrics["tokens"]
                samples_since += metrics["samples"]
                log.advance()
                if self.step % r.log.log_every == 0 or self.step == r.train.max_steps:
                    now = time.time()
                    metrics["tokens_per_s"] = tokens_since / max(now - t_last, 1e-9)
                    metrics["samples_per_s"] = samples_since / max(now - t_last, 1e-9)
                    metrics["epoch"] = position["epoch"]
                    log.log(self.step, metrics)
                    t_last, tokens_since, samples_since = now, 0.0, 0
                else:
                    log.log(self.step, {k: metrics[k] for k in ("loss", "lr")})
                if r.log.eval_every and self.step % r.log.eval_every == 0:
                    log.log(self.step, self.evaluate(), split="valid")
                if r.log.save_every and self.step % r.log.save_every == 0 and self.step < r.train.max_steps:
                    self.save(position)
            self.save(position)
            if r.log.eval_every and self.step % r.log.eval_every != 0:
                log.log(self.step, self.evaluate(), split="valid")
            if self.ema is None:
                result.model_dir = export_model(self.model, r, self.tokenizer, info, self.out_dir / "model")
            else:
                export_model(self.model, r, self.tokenizer, info, self.out_dir / "model-raw")
                with self.ema.swapped_in():
                    if r.log.eval_every:
                        log.log(self.step, self.evaluate(), split="valid_ema")
                    result.model_dir = export_model(
                        self.model, r, self.tokenizer, info, self.out_dir / "model"
                    )
        finally:
            log.close()
        result.step = self.step
        return result


def prepare(recipe: Recipe) -> None:
    """Build what a run of ``recipe`` needs before its first step, then stop: the tokenizer (trained
    when ``model.tokenizer_vocab`` asks for one that does not exist yet), the encoder cache
    (``train.cached_encoder_layers``) and the datasets. The training run that follows reuses both.
    """
    info = init_distributed(recipe.train.device, recipe.dist.timeout_s)
    try:
        Trainer(recipe, info)
    finally:
        cleanup(info)


def validate(recipe: Recipe) -> dict[str, float]:
    """The validation metrics of the recipe's starting model (``model.checkpoint``) on ``data.valid``,
    without training: loss, perplexity, token accuracy and, with ``log.decode_examples``, the decode
    metrics, exactly as a run logs them (``log.eval_batches`` batches; 0: the whole split)."""
    if not recipe.data.valid:
        raise ConfigError("data.valid is empty: nothing to validate on")
    info = init_distributed(recipe.train.device, recipe.dist.timeout_s)
    try:
        return Trainer(recipe, info, training=False).evaluate()
    finally:
        cleanup(info)


def train(recipe: Recipe, resume: str | bool | None = None) -> TrainResult:
    """Run a recipe in this process (joining the torchrun group when launched by torchrun)."""
    info = init_distributed(recipe.train.device, recipe.dist.timeout_s)
    try:
        trainer = Trainer(recipe, info)
        trainer.resume(resume)
        return trainer.run()
    finally:
        cleanup(info)
