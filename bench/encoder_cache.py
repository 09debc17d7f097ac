"""Benchmark the frozen Whisper-base encoder pass that builds auricle-small's training cache.

``auricle train`` with ``train.cached_encoder_layers: 6`` runs every training clip once through
Whisper-base's conv front end and six blocks (``AudioEncoder.hidden_states``, batches of 8 clips of
similar length) and stores the states; this is ≈ 30 min of the auricle-small recipe on a 2-core CPU.
The reference is transformers' ``WhisperEncoder`` with the same random weights, which needs every
input padded to 30 s; auricle runs each batch at the length of its longest clip. Both are timed in
fp32 and under bf16 autocast (``train.encoder_cache_precision: bf16``), on 8 clips of 5 s (the
corpus's typical length) and 8 clips of 30 s. Before timing, auricle's fp32 states are checked
against the reference's on the 30 s batch (relative error), and the bf16 states' distance from the
fp32 ones is printed (relative L2 norm, mean over clips). The last line is ``speedup: <ratio>``, the
reference's fp32 time over auricle's cache-building time at the default precision on the 5 s batch.

    .venv/bin/python bench/encoder_cache.py
    .venv/bin/python bench/encoder_cache.py --threads 1 --repeats 5
    .venv/bin/python bench/encoder_cache.py --device cuda --batch 64   # on a GPU (TF32 off)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from machine import best_time, setup_torch, synchronize

from auricle.audio.features import audio_token_count, log_mel
from auricle.checkpoint.keymap import _ENCODER_V2, convert
from auricle.model import preset
from auricle.model.encoder import AudioEncoder


def relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``‖got - ref‖ / ‖ref‖`` in fp32."""
    got, ref = got.float(), ref.float()
    return float((got - ref).norm() / ref.norm())


def whisper_base_pair(seed: int = 0):
    """transformers' WhisperEncoder and auricle's AudioEncoder, Whisper-base shape, same random weights."""
    import transformers  # the oracle; not a runtime dependency of auricle

    torch.manual_seed(seed)
    wcfg = transformers.WhisperConfig(
        d_model=512,
        encoder_attention_heads=8,
        encoder_layers=6,
        encoder_ffn_dim=2048,
        num_mel_bins=80,
        decoder_layers=1,
        decoder_attention_heads=8,
        decoder_ffn_dim=64,
        vocab_size=100,
        pad_token_id=1,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    reference = transformers.WhisperModel(wcfg).encoder.eval()
    ours = AudioEncoder(preset("auricle-small").encoder).eval()
    state = {"audio_tower." + k: v for k, v in reference.state_dict().items()}
    mapped, _ = convert(state, [(a, b.removeprefix("encoder.")) for a, b in _ENCODER_V2])
    ours.load_state_dict({k: v for k, v in mapped.items() if k != "positions"}, strict=False)
    return reference, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="clips per batch (the cache builder's 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the minimum is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (TF32 off: fp32 means fp32)")
    args = parser.parse_args()

    setup_torch(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        print(f"device: {torch.cuda.get_device_name(device)}")
    print(f"Whisper-base encoder (6 blocks, random weights), batch={args.batch}, repeats={args.repeats}")
    reference, ours = (m.to(device) for m in whisper_base_pair())
    rng = np.random.default_rng(0)
    speedup = None
    for seconds in (5, 30):
        clips = [0.1 * rng.standard_normal(16000 * seconds, dtype=np.float32) for _ in range(args.batch)]
        ours_mel = log_mel(clips, 80, device=device)
        frames = audio_token_count(ours_mel.num_samples.cpu(), "floor").mel_frames.to(device)
        padded = torch.nn.functional.pad(ours_mel.features, (0, 3000 - ours_mel.features.shape[-1]))

        def run_reference(bf16: bool, padded=padded):
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                return reference(padded).last_hidden_state

        def run_ours(bf16: bool, mel=ours_mel.features, frames=frames):
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                return ours.hidden_states(mel, frames)

        fp32_states, conv_len = run_ours(False)
        bf16_states, _ = run_ours(True)
        n = int(conv_len[0])
        drift = np.mean([relative_error(bf16_states[i, :n], fp32_states[i, :n]) for i in range(args.batch)])
        check = ""
        if seconds == 30:  # the only length where the reference's padding does not change the states
            with torch.inference_mode():
                err = relative_error(ours.final_norm(fp32_states), run_reference(False))
            if err > 1e-5:
                raise SystemExit(f"auricle's encoder disagrees with transformers': relative error {err:.1e}")
            check = f", fp32 vs transformers {err:.1e}"
        times = {
            (name, bf16): best_time(
                lambda f=f, b=bf16: f(b),
                warmup=1,
                repeats=args.repeats,
                steps=1,
                sync=lambda: synchronize(device),
            )
            for name, f in (("transformers", run_reference), ("auricle", run_ours))
            for bf16 in (False, True)
        }
        print(f"{args.batch} x {seconds:2d} s (bf16 states {drift:.1%} off fp32{check}):")
        for bf16 in (False, True):
            t_ref, t_ours = times["transformers", bf16], times["auricle", bf16]
            label = "bf16" if bf16 else "fp32"
            print(
                f"  {label}: transformers {t_ref:7.3f} s | auricle {t_ours:7.3f} s | ratio {t_ref / t_ours:5.1f}x"
            )
        print(
            f"  auricle bf16 vs auricle fp32: {times['auricle', False] / times['auricle', True]:.2f}x; "
            f"vs transformers fp32: {times['transformers', False] / times['auricle', True]:.1f}x"
        )
        if speedup is None:
            speedup = times["transformers", False] / times["auricle", False]
    print(f"speedup: {speedup:.2f}")


if __name__ == "__main__":
    main()
