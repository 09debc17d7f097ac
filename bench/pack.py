"""Audio packing in training: examples per second with the tasks of one clip in one row, against one
row per example (the unpacked reference), side by side in one run.

A multi-task corpus has several examples per clip (``auricle data synth`` writes ASR, SRWT, language
ID and translation for every speech clip), and in an audio-language model the clip's audio
placeholders are most of each sequence. With ``data.pack_audio`` the collator writes the shared
prefix (the audio) once and each task's tags and target after it (``auricle.data.collate``); this
script times one optimizer step over the same examples both ways, checks that the losses agree, and
prints the ratio.

The batch is synthetic but goes through the real collator: ``--clips`` clips of ``--audio-seconds``,
each with ``--tasks`` examples of ``--prompt-tokens`` tag tokens and ``--target-tokens`` targets.
The encoder is frozen and its states cached, as the auricle-small recipe trains (only the pool,
projector and decoder run).

    .venv/bin/python bench/pack.py                                   # auricle-small, bf16 autocast
    .venv/bin/python bench/pack.py --tasks 2 --precision fp32
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import platform

import torch
from machine import best_time

from auricle.audio.features import audio_token_count
from auricle.data.collate import Batch, Collator
from auricle.data.examples import IGNORE_INDEX, CachedAudio, TokenizedExample
from auricle.data.sampler import SampleKey
from auricle.model import AudioLM, preset
from auricle.model.encoder import conv_lengths
from auricle.train.losses import lm_loss_sums, target_rows

AUDIO_START, AUDIO_PAD, AUDIO_END = 1, 2, 3  # placeholder ids of the synthetic examples


def make_items(cfg, clips: int, tasks: int, seconds: float, prompt: int, target: int, packed: bool) -> list:
    """``clips × tasks`` tokenized examples; with ``packed`` each clip's examples form one unit."""
    gen = torch.Generator().manual_seed(0)
    samples = int(seconds * 16000)
    counts = audio_token_count(samples, cfg.encoder.length_rule)
    frames = int(conv_lengths(torch.tensor([int(counts.mel_frames)]), cfg.encoder.n_ctx)[0])
    n = int(counts.audio_tokens)
    vocab = cfg.text.vocab_size
    items = []
    for c in range(clips):
        audio = CachedAudio(torch.randn(frames, cfg.encoder.d_model, generator=gen).half(), samples)
        head = [AUDIO_START] + [AUDIO_PAD] * n + [AUDIO_END]
        for t in range(tasks):
            tags = torch.randint(4, vocab, (prompt,), generator=gen).tolist()
            answer = torch.randint(4, vocab, (target,), generator=gen).tolist()
            ids = head + tags + answer
            labels = [IGNORE_INDEX] * (len(head) + prompt) + answer
            key = SampleKey(len(items), 0, 0, len(items), unit=c if packed else -1)
            items.append(
                TokenizedExample(
                    f"c{c}t{t}", "asr", ids, labels, [audio], len(head) + prompt, None, len(head), key
                )
            )
    return items


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="auricle-small", help="a preset name (default: auricle-small)")
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--tasks", type=int, default=3, help="examples per clip")
    p.add_argument("--audio-seconds", type=float, default=5.0)
    p.add_argument("--prompt-tokens", type=int, default=6, help="task tags after the audio")
    p.add_argument("--target-tokens", type=int, default=14)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()

    torch.manual_seed(0)
    cfg = dataclasses.replace(preset(args.model), audio_start_id=AUDIO_START, audio_end_id=AUDIO_END)
    model = AudioLM(cfg).train()
    model.init_text_weights()  # as a from-scratch decoder starts
    start = cfg.encoder.n_layers  # the whole encoder cached, as auricle-small trains
    params = [
        q for name, q in model.named_parameters() if not name.startswith("encoder.") or "final_norm" in name
    ]
    opt = torch.optim.AdamW(params, lr=1e-4)
    collate = Collator(0, cfg.encoder.n_mels, cfg.encoder.length_rule)
    shape = (args.clips, args.tasks, args.audio_seconds, args.prompt_tokens, args.target_tokens)
    batches = {packed: collate(make_items(cfg, *shape, packed)) for packed in (False, True)}
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16" else contextlib.nullcontext()
    )

    def loss_of(b: Batch) -> torch.Tensor:
        with autocast:
            logits = model(
                b.input_ids, b.attention_mask, logit_rows=target_rows(b.labels), **b.audio_inputs(start)
            )
            total, _ = lm_loss_sums(logits, b.labels)
        return total / b.num_targets

    def step(b: Batch) -> None:
        loss_of(b).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed(b: Batch) -> float:
        return best_time(
            lambda: step(b), warmup=args.warmup, repeats=args.repeats, steps=args.steps, sync=lambda: None
        )

    with torch.no_grad():
        model.eval()
        a, b = loss_of(batches[False]).item(), loss_of(batches[True]).item()
        model.train()
    plain, packed = timed(batches[False]), timed(batches[True])
    examples = args.clips * args.tasks
    where = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"date: {datetime.date.today()}  device: cpu ({where})  torch {torch.__version__}")
    print(
        f"model: {args.model}  precision: {args.precision}  encoder cached (pool, projector, decoder train)"
    )
    print(
        f"batch: {args.clips} clips × {args.tasks} tasks; {args.audio_seconds:g} s audio, "
        f"{args.prompt_tokens} tag + {args.target_tokens} target tokens per task"
    )
    for name, t in (("one row per example", plain), ("packed by audio", packed)):
        bt = batches[name == "packed by audio"]
        print(
            f"{name:>20}: {tuple(bt.input_ids.shape)} positions {int(bt.attention_mask.sum()):6d}  "
            f"step {t * 1000:7.1f} ms  examples/s {examples / t:7.1f}"
        )
    print(f"packed / unpacked examples per second: {plain / packed:.2f}x  (loss {b:.5f} vs {a:.5f})")


if __name__ == "__main__":
    main()
