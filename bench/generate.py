"""Generation speed: auricle.generate against transformers' Qwen2AudioForConditionalGeneration.generate.

Both sides get the same random weights (copied through auricle's key map), the same prompts (one
5–10 s audio of random log-mel plus ~20 text tokens per row, audio placeholders sized by the v2 rule)
and decode greedily for exactly ``--new-tokens`` tokens (no stop token on either side). transformers
runs its encoder on the padded 3000-frame input, auricle on the real lengths (design decision 3),
so time-to-first-token (TTFT) and decode speed are reported separately.

    .venv/bin/python bench/generate.py                      # CPU: small model, fp32
    .venv/bin/python bench/generate.py --model 7b           # CUDA: Qwen2-Audio-7B shapes, bf16

Per case and side, each of the timed runs (after a warm-up run) marks the time to the first new
token (TTFT: audio encoder + prefill + one choice), and the rest (decode of ``new_tokens − 1`` steps);
the minimum of each over the repeats is kept. decode tokens/s = batch × (new_tokens − 1) / decode
time; end-to-end tokens/s = batch × new_tokens / total time. auricle is timed through
``stream_batch`` (events per step; a no-op ``decode_fn``), transformers through a streamer that only
marks the first token. The last line, ``speedup:``, is the smallest end-to-end tokens/s ratio.

``--num-beams K`` times beam search on both sides (``num_beams=K``, no stop token, exactly
``--new-tokens`` steps): transformers cannot stream beam search, so only the whole call is timed
(TTFT and decode columns show the per-step average); the tokens of the best beams are compared.

``--utf8-rules`` runs auricle's side under the UTF-8 rules (``auricle.generate.utf8``, on for every
task above ``generate()``) over a synthetic byte-level vocabulary of the model's size (every byte,
then random 2–4 byte pieces): it measures what the rules cost per step. The rules then change the
choices of a random model, so its tokens differ from transformers' by design.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import platform
import time

import torch
import transformers

from auricle.checkpoint.keymap import QWEN2_AUDIO_RUNTIME, convert
from auricle.generate import GenerationConfig, generate, stream_batch
from auricle.generate.utf8 import Utf8Rules
from auricle.model import AudioLM, preset
from auricle.model.encoder import conv_lengths, pooled_lengths

AUDIO_BOS, AUDIO_EOS = 997, 998  # ordinary text tokens around the audio (v2 style)


@dataclasses.dataclass
class Shapes:
    """Model dimensions shared by both implementations."""

    vocab: int
    audio_token_id: int
    enc_d: int
    enc_heads: int
    enc_layers: int
    enc_ffn: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int


MODELS = {
    # 4 layers × 64: the matmuls cost next to nothing, so this measures per-step overhead
    "tiny": Shapes(1024, 1000, 64, 4, 4, 256, 64, 4, 4, 4, 176),
    # ~4 layers × 512 wide (encoder and decoder), 8 heads, a 32k vocabulary
    "small": Shapes(32768, 32000, 512, 8, 4, 2048, 512, 4, 8, 8, 1408),
    # Qwen2-Audio-7B: Whisper-large encoder, Qwen2-7B decoder, vocabulary 156032
    "7b": Shapes(156032, 151646, 1280, 20, 32, 5120, 4096, 32, 32, 32, 11008),
}


def build_models(s: Shapes, device: str, dtype: torch.dtype, seed: int):
    """A random transformers model and an auricle AudioLM sharing its weights."""
    torch.manual_seed(seed)
    hf_cfg = transformers.Qwen2AudioConfig(
        audio_config=dict(
            d_model=s.enc_d,
            encoder_attention_heads=s.enc_heads,
            encoder_layers=s.enc_layers,
            encoder_ffn_dim=s.enc_ffn,
            num_mel_bins=128,
        ),
        text_config=dict(
            vocab_size=s.vocab,
            hidden_size=s.hidden,
            num_hidden_layers=s.layers,
            num_attention_heads=s.heads,
            num_key_value_heads=s.kv_heads,
            intermediate_size=s.ffn,
            rms_norm_eps=1e-5,
        ),
        audio_token_id=s.audio_token_id,
    )
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            hf = transformers.Qwen2AudioForConditionalGeneration(hf_cfg).eval()
    finally:
        torch.set_default_dtype(default)
    base = preset("qwen2-audio-7b")
    cfg = base.replace(
        encoder=dataclasses.replace(
            base.encoder, d_model=s.enc_d, n_heads=s.enc_heads, n_layers=s.enc_layers, ffn_dim=s.enc_ffn
        ),
        text=dataclasses.replace(
            base.text,
            vocab_size=s.vocab,
            hidden_size=s.hidden,
            n_layers=s.layers,
            n_heads=s.heads,
            n_kv_heads=s.kv_heads,
            intermediate_size=s.ffn,
        ),
        audio_token_id=s.audio_token_id,
    )
    with torch.device("meta"):
        ours = AudioLM(cfg)
    state, unmatched = convert(hf.state_dict(), QWEN2_AUDIO_RUNTIME)
    if unmatched:
        raise RuntimeError(f"weights not mapped: {unmatched}")
    ours.load_state_dict(state, strict=True, assign=True)  # shares the tensors, no copy
    return hf, ours.eval()


def make_prompts(s: Shapes, batch: int, seed: int, device: str, dtype: torch.dtype):
    """Per row ~20 text ids + one 5–10 s audio; returns (prompts, mel [B,128,3000], frames [B])."""
    g = torch.Generator().manual_seed(seed)
    seconds = [5 + 5 * (i + 0.5) / batch for i in range(batch)]  # spread over 5–10 s (bs 1: 7.5 s)
    frames = torch.tensor([math.ceil(sec * 16000 / 160) for sec in seconds])
    n_audio = pooled_lengths(conv_lengths(frames)).tolist()
    prompts = []
    for i, n in enumerate(n_audio):
        text = torch.randint(100, 990, (18 + i % 5,), generator=g).tolist()
        prompts.append(text[:3] + [AUDIO_BOS] + [s.audio_token_id] * n + [AUDIO_EOS] + text[3:])
    mel = torch.randn(batch, 128, 3000, generator=g).to(device, dtype)
    return prompts, mel, frames


def left_pad(prompts: list[list[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask, as transformers expects them."""
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


class Clock:
    """Time marks of one generate call: start, first new token, end (device synchronised).

    ``kind="wall"`` reads the wall clock; ``kind="process"`` the CPU time of this process, which on
    one thread is what the wall time would be on an otherwise idle core (for shared machines)."""

    kind = "wall"

    def __init__(self, device: str) -> None:
        self.device = device
        self.marks: list[float] = []

    def mark(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.marks.append(time.perf_counter() if self.kind == "wall" else time.process_time())

    def mark_first_evenly(self, steps: int) -> None:
        """For a call timed only as a whole (beam search): put the first-token mark at 1/steps."""
        start, end = self.marks
        self.marks.insert(1, start + (end - start) / steps)


class FirstTokenStreamer(transformers.generation.streamers.BaseStreamer):
    """transformers calls ``put`` with the prompt, then with every new token: mark the first token."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0

    def put(self, value) -> None:  # noqa: ANN001 - transformers' interface
        self.calls += 1
        if self.calls == 2:
            self.clock.mark()

    def end(self) -> None:
        pass


def run_case(
    hf,
    ours,
    s: Shapes,
    batch: int,
    new: int,
    repeats: int,
    device: str,
    dtype: torch.dtype,
    compile_decode: bool,
    utf8_rules: Utf8Rules | None = None,
    num_beams: int = 1,
):
    """Time both sides on one batch size; returns per-side numbers and whether the tokens agree.

    Each run gives its own TTFT (time to the first new token) and decode time (the rest); the sides
    alternate inside each repeat, so a burst of load on a shared machine hits both."""
    prompts, mel, frames = make_prompts(s, batch, seed=batch, device=device, dtype=dtype)
    ids, att = left_pad(prompts, device)
    fmask = (torch.arange(3000)[None] < frames[:, None]).long().to(device)

    beams = num_beams > 1

    def hf_gen(clock: Clock) -> list[list[int]]:
        clock.mark()
        with torch.inference_mode():
            out = hf.generate(
                input_ids=ids,
                attention_mask=att,
                input_features=mel,
                feature_attention_mask=fmask,
                do_sample=False,
                num_beams=num_beams,
                max_new_tokens=new,
                min_new_tokens=new,
                pad_token_id=0,
                eos_token_id=None,
                streamer=None if beams else FirstTokenStreamer(clock),
            )
        clock.mark()
        if beams:  # no first-token mark: split the total evenly over the steps
            clock.mark_first_evenly(new)
        return out[:, ids.shape[1] :].tolist()

    def ours_gen(clock: Clock) -> list[list[int]]:
        cfg = GenerationConfig(
            max_new_tokens=new,
            min_new_tokens=new,
            stop_token_ids=(),
            compile_decode=compile_decode,
            utf8_rules=utf8_rules,
            num_beams=num_beams,
        )
        clock.mark()
        if beams:
            out = generate(ours, prompts, mel=mel, mel_frames=frames, config=cfg)
            clock.mark()
            clock.mark_first_evenly(new)
            return [r.token_ids for r in out]
        results = {}
        events = stream_batch(ours, prompts, mel=mel, mel_frames=frames, config=cfg, decode_fn=lambda ids: "")
        for i, event in enumerate(events):  # one event per row and step
            if i == batch - 1:
                clock.mark()
            if event.result is not None:
                results[event.row] = event.result.token_ids
        clock.mark()
        return [results[r] for r in range(batch)]

    sides = {"transformers": hf_gen, "auricle": ours_gen}
    best = {name: dict(ttft=float("inf"), decode=float("inf"), total=float("inf")) for name in sides}
    tokens = {name: fn(Clock(device)) for name, fn in sides.items()}  # warm-up
    for _ in range(repeats):
        for name, fn in sides.items():
            clock = Clock(device)
            fn(clock)
            start, first, end = clock.marks
            for key, value in (("ttft", first - start), ("decode", end - first), ("total", end - start)):
                best[name][key] = min(best[name][key], value)
    row = {}
    for name, b in best.items():
        row[name] = dict(
            ttft=b["ttft"],
            total=b["total"],
            step=b["decode"] / (new - 1),
            decode_tps=batch * (new - 1) / b["decode"],
            e2e_tps=batch * new / b["total"],
        )
    same = tokens["transformers"] == tokens["auricle"]
    return row, same, sum(map(len, prompts))


def synthetic_byte_vocab_rules(vocab: int, seed: int = 0) -> Utf8Rules:
    """UTF-8 rules for a byte-level vocabulary of ``vocab`` ids: every byte, then random pieces."""
    g = torch.Generator().manual_seed(seed)
    pieces = [bytes([b]) for b in range(256)]
    while len(pieces) < vocab:
        n = int(torch.randint(2, 5, (1,), generator=g))
        pieces.append(bytes(torch.randint(0, 256, (n,), generator=g).tolist()))
    return Utf8Rules.from_token_bytes(pieces[:vocab], special=set())


def device_copy_rate(device: str) -> float:
    """Measured device-to-device copy rate (bytes read + written per second) on a 1 GiB buffer."""
    x = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        y.copy_(x)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * x.numel() / best


def decode_bytes(ours: AudioLM, batch: int, context: int) -> int:
    """Bytes one decode step must read: decoder + LM head weights and the KV cache so far."""
    read = [ours.text.layers, ours.text.norm, ours.lm_head]  # the embedding: one row per token only
    params = sum(p.numel() * p.element_size() for mod in read for p in mod.parameters())
    c = ours.cfg.text
    kv = 2 * c.n_layers * batch * c.n_kv_heads * context * c.head_dim * ours.lm_head.weight.element_size()
    return params + kv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--model",
        choices=sorted(MODELS),
        default=None,
        help="tiny (overhead only), small (CPU default) or 7b (CUDA default)",
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats after a warm-up; the min is kept")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="default: bf16 on CUDA")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument(
        "--clock",
        choices=["wall", "process"],
        default="wall",
        help="wall clock, or CPU time of this process (CPU, with --threads 1: robust on a shared machine)",
    )
    ap.add_argument(
        "--compile", action="store_true", help="auricle with compile_decode=True (compiled in warm-up)"
    )
    ap.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams (both sides)")
    ap.add_argument(
        "--utf8-rules", action="store_true", help="auricle under the UTF-8 rules (what they cost per step)"
    )
    args = ap.parse_args()
    if args.clock == "process" and (args.device == "cuda" or args.threads != 1):
        ap.error("--clock process measures one CPU thread: use it with --device cpu --threads 1")
    Clock.kind = args.clock
    model = args.model or ("7b" if args.device == "cuda" else "small")
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device == "cuda" else "float32"))
    if args.threads:
        torch.set_num_threads(args.threads)
    s = MODELS[model]
    hf, ours = build_models(s, args.device, dtype, seed=0)
    dev_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(
        f"# {datetime.date.today()}  device={args.device} ({dev_name})  threads={torch.get_num_threads()}  "
        f"torch {torch.__version__}  transformers {transformers.__version__}"
    )
    print(
        f"# model={model} ({ours.num_parameters() / 1e6:.1f} M params, vocab {s.vocab}, {dtype}), "
        + (f"beam search ({args.num_beams} beams), " if args.num_beams > 1 else "greedy, ")
        + f"{args.new_tokens} new tokens, min of {args.repeats} after a warm-up, {args.clock} clock"
        + (", auricle decode compiled" if args.compile else "")
        + (", auricle under the UTF-8 rules (tokens differ by design)" if args.utf8_rules else "")
    )
    rules = synthetic_byte_vocab_rules(s.vocab) if args.utf8_rules else None
    copy_rate = device_copy_rate(args.device) if args.device == "cuda" else None
    header = f"{'bs':>3} {'side':<13} {'TTFT ms':>9} {'decode tok/s':>13} {'e2e tok/s':>10} {'ms/step':>8}"
    if copy_rate:
        header += f" {'BW % copy':>10}"
    print(header)
    ratios = []
    for bs in args.batch_sizes:
        row, same, n_prompt = run_case(
            hf,
            ours,
            s,
            bs,
            args.new_tokens,
            args.repeats,
            args.device,
            dtype,
            args.compile,
            rules,
            args.num_beams,
        )
        for side in ("transformers", "auricle"):
            r = row[side]
            line = (
                f"{bs:>3} {side:<13} {r['ttft'] * 1e3:>9.1f} {r['decode_tps']:>13.1f} "
                f"{r['e2e_tps']:>10.1f} {r['step'] * 1e3:>8.2f}"
            )
            if copy_rate:
                ctx = n_prompt // bs + args.new_tokens // 2
                line += f" {100 * decode_bytes(ours, bs, ctx) / r['step'] / copy_rate:>9.1f}%"
            print(line)
        t, a = row["transformers"], row["auricle"]
        e2e = a["e2e_tps"] / t["e2e_tps"]
        ratios.append(e2e)
        print(
            f"{bs:>3} ratio         TTFT {t['ttft'] / a['ttft']:.2f}x  decode {a['decode_tps'] / t['decode_tps']:.2f}x"
            f"  e2e {e2e:.2f}x  tokens identical: {'yes' if same else 'no'}"
        )
    if copy_rate:
        print(f"# device-to-device copy rate: {copy_rate / 1e9:.0f} GB/s")
    print(f"speedup: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
