"""``auricle convert`` and ``auricle info``.

auricle convert Qwen-Audio-Chat/ qwen-audio-chat-auricle/ --to auricle
auricle convert qwen-audio-chat-auricle/ qwen-audio-chat-hf/ --to hf-qwen2-audio --dtype bfloat16
auricle convert faster-whisper-base/ whisper-base-hf/ --to hf-whisper
auricle info Qwen2-Audio-7B-Instruct/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from auricle.checkpoint.export import export_hf_qwen2_audio
from auricle.checkpoint.info import checkpoint_info, format_info
from auricle.checkpoint.loader import DTYPES, load_checkpoint
from auricle.checkpoint.save import save_checkpoint
from auricle.checkpoint.variant import CHAT_VARIANT, is_variant
from auricle.checkpoint.whisper_export import whisper_to_hf
from auricle.errors import AuricleError, CheckpointError

TARGETS = ("auricle", "hf-qwen2-audio", "hf-whisper")


def convert(args: argparse.Namespace) -> int:
    """Convert a checkpoint folder to auricle's layout, the HF Qwen2-Audio layout or HF Whisper."""
    src, dst = Path(args.src), Path(args.dst)
    if dst.exists() and src.resolve() == dst.resolve():
        raise CheckpointError(f"destination {dst} is the source; convert into a new folder")
    dtype = None if args.dtype == "checkpoint" else DTYPES[args.dtype]
    progress = args.progress
    if args.to == "hf-whisper":
        whisper_to_hf(src, dst, dtype=dtype)
    else:
        loaded = load_checkpoint(src, dtype=dtype or "checkpoint", progress=progress)
        if args.to == "auricle":
            save_checkpoint(
                loaded.model,
                dst,
                shard_size=args.shard_size,
                tokenizer_folder=loaded.folder,
                progress=progress,
            )
        else:
            export_hf_qwen2_audio(
                loaded.model,
                dst,
                audio_token_id=args.audio_token_id,
                shard_size=args.shard_size,
                tokenizer_folder=loaded.folder,
                progress=progress,
            )
        del loaded
    if is_variant(src / CHAT_VARIANT):
        print(
            f"note: {src / CHAT_VARIANT} (the chat variant) is not converted; only the base model is",
            file=sys.stderr,
        )
    print(f"wrote {dst} ({args.to})")
    return 0


def info(args: argparse.Namespace) -> int:
    """Print what a checkpoint holds (layout, sizes, dtypes, parameters, files)."""
    summary = checkpoint_info(args.checkpoint)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else format_info(summary))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``convert`` and ``info`` to the ``auricle`` command line."""
    p = subparsers.add_parser(
        "convert",
        help="convert a checkpoint between layouts",
        description="Convert an official Qwen-Audio (v1), HF Qwen2-Audio or auricle checkpoint folder to "
        "auricle's layout or the HF Qwen2-Audio layout (which transformers and vLLM serve), or a Whisper "
        "checkpoint (openai .pt, faster-whisper, HF) to a transformers Whisper folder.",
    )
    p.add_argument("src", help="source checkpoint folder (or Whisper .pt file)")
    p.add_argument("dst", help="destination folder (created; must differ from the source)")
    p.add_argument("--to", choices=TARGETS, required=True, help="layout to write")
    p.add_argument(
        "--dtype",
        choices=("checkpoint", *DTYPES),
        default="checkpoint",
        help="dtype of the written weights (default: keep the checkpoint's)",
    )
    p.add_argument(
        "--shard-size", default="2GB", help="largest safetensors file, e.g. 2GB, 500MB (default 2GB)"
    )
    p.add_argument(
        "--audio-token-id",
        type=int,
        default=None,
        help="hf-qwen2-audio: id whose positions take audio frames (default: the model's <|AUDIO|>, "
        "or 151851 [[[AUDIO:modality]]] for v1-style models)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars (default: for checkpoints of 1 GiB or more, on a terminal)",
    )
    p.set_defaults(func=convert)

    q = subparsers.add_parser(
        "info",
        help="show what a checkpoint holds",
        description="Layout, family, sizes (layers, dims, vocab), dtypes, parameter count and files of a "
        "checkpoint, read from its config and file headers only.",
    )
    q.add_argument("checkpoint", help="checkpoint folder (or Whisper .pt file)")
    q.add_argument("--json", action="store_true", help="print JSON instead of text")
    q.set_defaults(func=info)


def main(argv: list[str] | None = None) -> int:
    """Run ``convert``/``info`` alone (``python -m auricle.checkpoint.cli``), as ``auricle`` does."""
    parser = argparse.ArgumentParser(prog="auricle")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        with torch.no_grad():
            return args.func(args)
    except AuricleError as e:
        print(f"auricle: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
