"""Training-step speed: samples/s, tokens/s and (on CUDA) model FLOPs utilisation (MFU).

One step is what ``auricle train`` does per optimizer step with one micro-batch: forward through the
audio encoder, projector and decoder, the vocabulary projection at the target positions only and
their cross-entropy (``auricle.train.losses``), backward, gradient clipping and AdamW. The same step
with logits at every position (what a causal-LM forward does) is timed beside it and the ratio
printed. Every parameter trains. The batch is synthetic: each row is one audio of
``--audio-seconds`` (random log-mel, placeholders sized by the v1 rule) followed by
``--text-tokens`` target tokens.

    .venv/bin/python bench/train_step.py                             # CPU: the "small" model, fp32
    .venv/bin/python bench/train_step.py --model 1b --compile        # CUDA: 1.76B model, bf16 autocast
    .venv/bin/python bench/train_step.py --model auricle-small --precision bf16   # CPU bf16 autocast
    .venv/bin/python bench/train_step.py --model auricle-small --precision bf16 --cached-encoder --stack 2

``--cached-encoder`` trains what the auricle-small recipe trains: the encoder's pooled output is
computed once, outside the timed step (its cache), and the projector and decoder train on it.
``--stack K`` times the same step again with ``encoder.stack = K`` (K pooled states per audio token,
the same encoder weights, a K-times wider projector) and prints its speed-up over the official
one-state tokens.

MFU = model FLOPs per second / the GPU's peak dense bf16 FLOPs. Model FLOPs per step count every
matmul of the training step (3 × forward: forward, input gradients, weight gradients) with the
PaLM convention for attention (2 · 2 · d · n per layer and position, causal masking not halved):
encoder convolutions, blocks and projector per audio frame, decoder layers and LM head per token.
Timing: ``--warmup`` steps, then the minimum over ``--repeats`` runs of ``--steps`` steps each.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import platform

import torch
from machine import best_time, synchronize

from auricle.audio.features import audio_token_count
from auricle.model import AudioLM, preset
from auricle.model.config import AudioLMConfig
from auricle.train.losses import lm_loss_sums, target_rows
from auricle.train.setup import enable_activation_checkpointing

AUDIO_START, AUDIO_END = 1, 2  # placeholder ids of the synthetic vocabulary

#: model name -> (base preset, encoder fields, text fields) overriding that preset.
MODELS = {
    # a few layers, 64 wide: seconds on a laptop
    "tiny": ("tiny-qwen-audio", {}, {"vocab_size": 8192}),
    # the pretrain-small recipe: Whisper-base encoder (512 × 6), 8-layer 512-wide decoder
    "small": (
        "tiny-qwen-audio",
        {"d_model": 512, "n_heads": 8, "n_layers": 6, "ffn_dim": 2048},
        {
            "vocab_size": 8192,
            "hidden_size": 512,
            "n_layers": 8,
            "n_heads": 8,
            "n_kv_heads": 8,
            "intermediate_size": 1408,
        },
    ),
    # the shipped auricle-small exactly (its own preset): Whisper-base encoder, 4-layer 384-wide GQA
    # decoder with tied embeddings, its BPE vocabulary
    "auricle-small": ("auricle-small", {}, {}),
    # 1.76B: Whisper-medium-sized encoder (1024 × 24), 16-layer 2048-wide decoder, Qwen-Audio vocabulary
    "1b": (
        "tiny-qwen-audio",
        {"d_model": 1024, "n_heads": 16, "n_layers": 24, "ffn_dim": 4096},
        {
            "vocab_size": 155947,
            "hidden_size": 2048,
            "n_layers": 16,
            "n_heads": 16,
            "n_kv_heads": 16,
            "intermediate_size": 5504,
        },
    ),
}

#: Peak dense bf16 tensor-core FLOP/s by GPU name fragment (first match wins).
PEAK_BF16 = [
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
]


def model_config(name: str, stack: int = 1) -> AudioLMConfig:
    """The benchmark model ``name`` (see :data:`MODELS`), ``stack`` pooled states per audio token."""
    base_name, enc, text = MODELS[name]
    base = preset(base_name)
    cfg = dataclasses.replace(
        base,
        encoder=dataclasses.replace(base.encoder, **enc, stack=stack),
        text=dataclasses.replace(base.text, **text),
        audio_start_id=AUDIO_START,
        audio_end_id=AUDIO_END,
        eos_token_ids=[0],
        pad_token_id=0,
    )
    return cfg


def make_batch(
    cfg: AudioLMConfig, batch: int, seconds: float, text_tokens: int, device: torch.device
) -> dict:
    """Synthetic inputs: ``<audio>`` + N pads + ``</audio>`` + text per row; labels on the text."""
    lengths = audio_token_count(int(seconds * 16000), cfg.encoder.length_rule, cfg.encoder.stack)
    n = int(lengths.audio_tokens)
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(3, cfg.text.vocab_size, (batch, text_tokens), generator=gen)
    audio = torch.cat([torch.tensor([AUDIO_START]), torch.full((n,), 3), torch.tensor([AUDIO_END])])
    ids = torch.cat([audio.expand(batch, -1), text], dim=1)
    labels = torch.full_like(ids, -100)
    labels[:, n + 2 :] = text
    frames = int(lengths.mel_frames)
    mel = torch.randn(batch, cfg.encoder.n_mels, frames + 3, generator=gen)
    return {
        "input_ids": ids.to(device),
        "labels": labels.to(device),
        "mel": mel.to(device),
        "mel_frames": torch.full((batch,), frames, dtype=torch.long, device=device),
        "encoder_frames": int(lengths.encoder_frames),
        "audio_tokens": n,
    }


def step_flops(
    cfg: AudioLMConfig,
    batch: int,
    encoder_frames: int,
    audio_tokens: int,
    seq: int,
    head_rows: int,
    cached_encoder: bool = False,
) -> float:
    """Model FLOPs of one training step (see the module docstring); ``head_rows`` positions per row
    go through the LM head; with ``cached_encoder`` the encoder's convolutions and blocks do not run."""
    e, t = cfg.encoder, cfg.text
    c = encoder_frames
    enc = 2 * e.pooled_dim * t.hidden_size * audio_tokens  # projector
    if not cached_encoder:
        # conv1 (over 2C frames) and conv2, then the blocks
        enc += 2 * e.n_mels * 3 * e.d_model * 2 * c + 2 * e.d_model * 3 * e.d_model * c
        enc += e.n_layers * (c * 2 * (4 * e.d_model**2 + 2 * e.d_model * e.ffn_dim) + 4 * c * c * e.d_model)
    kv = t.n_kv_heads * t.head_dim
    per_layer = 2 * (2 * t.hidden_size**2 + 2 * t.hidden_size * kv + 3 * t.hidden_size * t.intermediate_size)
    dec = seq * t.n_layers * per_layer + t.n_layers * 4 * seq * seq * t.hidden_size
    dec += 2 * head_rows * t.hidden_size * t.vocab_size  # LM head
    return 3.0 * batch * (enc + dec)


def peak_flops(device: torch.device, override: float | None) -> float | None:
    """Peak bf16 FLOP/s of the GPU (``--peak-tflops`` wins), None on CPU or an unknown GPU."""
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((p for key, p in PEAK_BF16 if key in name), None)


def time_step(
    model: AudioLM,
    params: list[torch.nn.Parameter],
    b: dict,
    audio_inputs: dict,
    autocast: contextlib.AbstractContextManager,
    args: argparse.Namespace,
) -> tuple[float, float]:
    """Seconds per training step: (logits at the target positions only, logits at every position)."""
    device = b["input_ids"].device
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device.type == "cuda")
    rows = target_rows(b["labels"])
    n = int(rows.sum())  # target tokens of the step (constant: one host sync, not one per step)

    def step(all_positions: bool) -> None:
        with autocast:
            logits = model(b["input_ids"], **audio_inputs, logit_rows=None if all_positions else rows)
            total, _ = lm_loss_sums(logits, b["labels"])
        (total / n).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed(all_positions: bool) -> float:
        return best_time(
            lambda: step(all_positions),
            warmup=args.warmup,
            repeats=args.repeats,
            steps=args.steps,
            sync=lambda: synchronize(device),
        )

    return timed(False), timed(True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default=None, help="default: small on CPU, 1b on CUDA")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=None, help="rows per step (default: 4 on CPU, 16 on CUDA)")
    p.add_argument("--audio-seconds", type=float, default=None, help="default: 5 on CPU, 30 on CUDA")
    p.add_argument("--text-tokens", type=int, default=None, help="default: 64 on CPU, 256 on CUDA")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: bf16 on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile each block (as train.compile)")
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument(
        "--cached-encoder", action="store_true", help="train on the encoder's cached pooled output"
    )
    p.add_argument("--stack", type=int, default=1, help="also time encoder.stack = K and print the ratio")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s for MFU (default: by GPU name)"
    )
    args = p.parse_args()

    device = torch.device(args.device)
    gpu = device.type == "cuda"
    name = args.model or ("1b" if gpu else "small")
    batch_size = args.batch or (16 if gpu else 4)
    seconds = args.audio_seconds or (30.0 if gpu else 5.0)
    text_tokens = args.text_tokens or (256 if gpu else 64)
    precision = args.precision or ("bf16" if gpu else "fp32")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    where = (
        torch.cuda.get_device_name(device)
        if gpu
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(f"date: {datetime.date.today()}  device: {device.type} ({where})  torch {torch.__version__}")
    peak = peak_flops(device, args.peak_tflops)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )
    base = None
    for stack in dict.fromkeys([1, args.stack]):
        torch.manual_seed(0)  # the same encoder weights for every stack
        cfg = model_config(name, stack)
        model = AudioLM(cfg).to(device).train()
        if args.activation_checkpointing:
            enable_activation_checkpointing(model)
        if args.compile:
            for block in [*model.encoder.blocks, *model.text.layers]:
                block.compile()
        b = make_batch(cfg, batch_size, seconds, text_tokens, device)
        audio_inputs: dict = {"mel": b["mel"], "mel_frames": b["mel_frames"]}
        if args.cached_encoder:  # what an encoder cache gives: the pooled output, computed once
            for pname, param in model.encoder.named_parameters():
                param.requires_grad_(pname.startswith(("final_norm.", "tap_norms.")))
            with torch.no_grad(), autocast:
                states, conv_len = model.encoder.hidden_states(b["mel"], b["mel_frames"])
                pooled, tokens = model.encoder.pool_states(states, conv_len)
            audio_inputs = {"encoder_states": (pooled.float(), tokens, cfg.encoder.n_layers, True)}
        params = [p for p in model.parameters() if p.requires_grad]
        seq = b["input_ids"].shape[1]
        best, every = time_step(model, params, b, audio_inputs, autocast, args)
        flops = step_flops(
            cfg, batch_size, b["encoder_frames"], b["audio_tokens"], seq, text_tokens, args.cached_encoder
        )
        print(
            f"model: {name}, encoder.stack {stack} ({sum(p.numel() for p in params) / 1e6:.1f}M trained params, "
            f"encoder {'cached' if args.cached_encoder else 'trained'})  precision: {precision}  "
            f"compile: {args.compile}  activation checkpointing: {args.activation_checkpointing}"
        )
        print(
            f"  batch: {batch_size} × ({seconds:g} s audio = {b['audio_tokens']} audio tokens + {text_tokens} text) "
            f"= {seq} positions/row"
        )
        print(
            f"  step: {best * 1000:.1f} ms  samples/s: {batch_size / best:.2f}  tokens/s: {batch_size * seq / best:.0f}"
        )
        print(
            f"  same step with logits at every position: {every * 1000:.1f} ms  "
            f"(target rows {every / best:.2f}x faster)"
        )
        line = f"  model TFLOP/step: {flops / 1e12:.3f}  achieved TFLOP/s: {flops / best / 1e12:.2f}"
        if peak:
            line += f"  MFU: {100 * flops / best / peak:.1f}% of {peak / 1e12:.0f} TFLOP/s"
        print(line)
        if base is None:
            base = best
        else:
            print(f"encoder.stack {stack} against 1: step {base / best:.2f}x faster")
    if gpu:
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
