"""``auricle transcribe | translate | caption | ask | classify | chat``: the tasks from the command line.

    auricle transcribe talk.mp3 interview.wav --model ckpt/ --word-timestamps -o out/ -f srt
    auricle ask dog.wav -q "What animal is this?" --model ckpt/
    auricle chat --model ckpt/            # then: /audio PATH, a question, /reset, /quit

Each subcommand prints one line per file (``file: result``) and, with ``--output-dir``, writes
result files in ``--format`` (``all`` by default: every format that fits the result).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile
from tqdm import tqdm

from auricle import api
from auricle.errors import AudioError, AuricleError, ConfigError
from auricle.tasks.classify import KINDS
from auricle.tasks.fallback import COMPRESSION_RATIO_THRESHOLD, DEFAULT_TEMPERATURES
from auricle.tasks.prompts import LANGUAGE_NAMES, TASK_FORMATS
from auricle.tasks.writers import FORMATS, get_writer, result_text

LANGS = list(LANGUAGE_NAMES)
DTYPES = ["auto", "float32", "bfloat16", "float16"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the task subcommands to the ``auricle`` parser."""
    p = _task_parser(subparsers, "transcribe", "speech to text in the spoken language (any length)")
    p.add_argument("--language", choices=LANGS, help="spoken language (default: detected)")
    p.add_argument("--word-timestamps", action="store_true", help="a start and end time for every word")
    p.add_argument("--itn", action="store_true", help="inverse text normalisation (numbers as digits)")
    _fallback_arguments(p)
    p.set_defaults(func=_run_transcribe)

    p = _task_parser(subparsers, "translate", "speech translated into another language (any length)")
    p.add_argument("--to", default="en", choices=LANGS, help="language to translate into (default: en)")
    p.add_argument("--language", choices=LANGS, help="spoken language (default: detected)")
    _fallback_arguments(p)
    p.set_defaults(func=_run_translate)

    p = _task_parser(subparsers, "caption", "describe the sound in one sentence")
    p.add_argument("--language", default="en", choices=LANGS, help="language of the caption (default: en)")
    p.add_argument(
        "--style",
        choices=["clotho", "audiocaps", "plain"],
        help="caption style (default: the model's own: plain for auricle models, clotho for Qwen-Audio)",
    )
    p.add_argument(
        "--audio-language",
        choices=["auto", *LANGS],
        help="for speech: its language, or auto to detect it (default: none, for sounds and music)",
    )
    p.set_defaults(func=_run_caption)

    p = _task_parser(subparsers, "ask", "answer a question about each audio")
    p.add_argument("-q", "--question", required=True, help="the question (plain text)")
    p.set_defaults(func=_run_ask)

    p = _task_parser(subparsers, "classify", "acoustic scene, sound event, emotion or vocal sound")
    p.add_argument("--kind", default="scene", choices=list(KINDS), help="what to classify (default: scene)")
    p.add_argument("--candidates", help="comma-separated labels to choose from (scored by the model)")
    p.set_defaults(func=_run_classify)

    p = _task_parser(subparsers, "detect-language", "the spoken language of each audio (first 30 s)")
    p.set_defaults(func=_run_detect_language)

    p = _task_parser(subparsers, "music", "describe a piece of music, or analyse a single note (--note)")
    p.add_argument(
        "--note", action="store_true", help="note analysis: pitch, velocity, instrument and qualities"
    )
    p.set_defaults(func=_run_music)

    p = subparsers.add_parser("chat", help="interactive chat about audio", description=_CHAT_HELP)
    _model_options(p)
    p.add_argument("--system", help="system prompt (default: 'You are a helpful assistant.')")
    p.add_argument(
        "--audio-tools", action="store_true", help="let the model edit audio with the built-in tools"
    )
    p.add_argument("-o", "--output-dir", default=".", help="where audio made by tools is saved (default: .)")
    p.set_defaults(func=_run_chat)


_CHAT_HELP = (
    "Interactive chat. Type a message and press Enter. Commands: /audio PATH attaches an audio to your "
    "next message, /reset starts over, /quit (or end of input) leaves."
)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=api.DEFAULT_MODEL, help="checkpoint folder or shipped model name")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dtype", default="auto", choices=DTYPES, help="weight dtype (default: auto)")
    p.add_argument("--max-new-tokens", type=int, help="tokens each answer may have (default: per task)")
    p.add_argument(
        "--beam-size", type=int, default=1, help="beam search with this many beams (default: 1, greedy)"
    )
    p.add_argument(
        "--task-format", default="auto", choices=list(TASK_FORMATS), help="how prompts are written"
    )


def _task_parser(subparsers, name: str, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
    p.add_argument("audio", nargs="+", help="audio files (any format ffmpeg reads)")
    _model_options(p)
    p.add_argument("--batch-size", type=int, default=8, help="files processed together (default: 8)")
    p.add_argument("-o", "--output-dir", help="write result files here")
    p.add_argument(
        "-f", "--format", default="all", choices=list(FORMATS), help="output format (default: all)"
    )
    return p


# ------------------------------------------------------------------------------------------ running


def _load(args: argparse.Namespace) -> api.AudioModel:
    if not args.model:
        raise ConfigError(
            "no model given and no shipped model is installed yet; pass --model PATH (a checkpoint folder)"
        )
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if args.beam_size < 1:
        raise ConfigError(f"--beam-size must be >= 1, got {args.beam_size}")
    return api.load(
        args.model,
        device=args.device,
        dtype=args.dtype,
        batch_size=getattr(args, "batch_size", 8),
        task_format=args.task_format,
        max_new_tokens=args.max_new_tokens,
        beam_size=args.beam_size,
    )


def _check_files(paths: Sequence[str]) -> None:
    for path in paths:
        if not Path(path).is_file():
            raise AudioError(f"{path}: no such file")


def _run_files(
    args: argparse.Namespace, task: Callable[[api.AudioModel, list[str]], list], word_ts: bool = False
) -> int:
    """Load the model, run ``task`` over the files in batches with a progress bar, print, write."""
    _check_files(args.audio)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    writer = get_writer(args.format, args.output_dir) if args.output_dir else None
    model = _load(args)
    with tqdm(total=len(args.audio), unit="file", disable=None, file=sys.stderr) as bar:
        for start in range(0, len(args.audio), args.batch_size):
            paths = args.audio[start : start + args.batch_size]
            for path, result in zip(paths, task(model, paths)):
                tqdm.write(f"{path}: {printable(_line(result))}", file=sys.stdout)
                if writer is not None:
                    writer(result, path, word_timestamps=word_ts)
                bar.update(1)
    return 0


def printable(text: str) -> str:
    """``text`` with control characters escaped, so model output cannot drive the terminal."""
    return "".join(c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode() for c in text)


def _line(result) -> str:
    text = result_text(result)
    score = getattr(result, "score", None)
    return f"{text} ({score:.3f})" if isinstance(score, float) else text


def _fallback_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--temperature",
        type=float,
        nargs="+",
        default=list(DEFAULT_TEMPERATURES),
        help="greedy first (0), then these sampling temperatures for windows whose text loops "
        "(default: 0 0.2 0.4 0.6 0.8 1; give 0 alone for greedy only)",
    )
    p.add_argument(
        "--compression-ratio-threshold",
        type=float,
        default=COMPRESSION_RATIO_THRESHOLD,
        help="text that compresses more than this is decoded again (default: 2.4)",
    )


def _fallback(args: argparse.Namespace) -> dict:
    return {"temperature": args.temperature, "compression_ratio_threshold": args.compression_ratio_threshold}


def _run_transcribe(args: argparse.Namespace) -> int:
    def task(model, paths):
        return model.transcribe(
            paths,
            language=args.language,
            word_timestamps=args.word_timestamps,
            itn=args.itn,
            **_fallback(args),
        )

    return _run_files(args, task, word_ts=args.word_timestamps)


def _run_translate(args: argparse.Namespace) -> int:
    return _run_files(
        args,
        lambda model, paths: model.translate(paths, to=args.to, language=args.language, **_fallback(args)),
    )


def _run_caption(args: argparse.Namespace) -> int:
    return _run_files(
        args,
        lambda model, paths: model.caption(
            paths, language=args.language, style=args.style, audio_language=args.audio_language
        ),
    )


def _run_ask(args: argparse.Namespace) -> int:
    return _run_files(args, lambda model, paths: model.ask(paths, args.question))


def _run_classify(args: argparse.Namespace) -> int:
    candidates = [c.strip() for c in args.candidates.split(",")] if args.candidates else None
    return _run_files(args, lambda model, paths: model.classify(paths, args.kind, candidates=candidates))


def _run_detect_language(args: argparse.Namespace) -> int:
    return _run_files(args, lambda model, paths: model.detect_language(paths))


def _run_music(args: argparse.Namespace) -> int:
    if args.note:
        return _run_files(args, lambda model, paths: model.analyze_music(paths))
    return _run_files(args, lambda model, paths: model.describe_music(paths))


# ------------------------------------------------------------------------------------------ chat


def _run_chat(args: argparse.Namespace) -> int:
    model = _load(args)
    session = model.chat(args.system, audio_tools=args.audio_tools)
    out_dir = Path(args.output_dir)
    pending: list[str] = []
    print("auricle chat: /audio PATH to attach audio, /reset to start over, /quit to leave")
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not line:
            continue
        if line.startswith("/"):
            command, _, rest = line.partition(" ")
            if command in ("/quit", "/exit"):
                return 0
            if command == "/reset":
                session.reset()
                pending.clear()
                print("(conversation cleared)")
            elif command == "/audio":
                path = rest.strip()
                if not Path(path).is_file():
                    print(f"error: {path or '(no path)'}: no such file")
                else:
                    pending.append(path)
                    print(f"(attached {path}; it goes with your next message)")
            else:
                print(f"unknown command {command}; commands: /audio PATH, /reset, /quit")
            continue
        try:
            for delta in session.send(line, audios=pending, stream=True):
                print(printable(delta), end="", flush=True)
        except AuricleError as e:
            print(f"\nerror: {e}")
            continue
        finally:
            pending.clear()
        print()
        for result in session.last_reply.tool_results:
            if result.audio is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"edit-{result.content.get('audio', len(session.audios))}.wav"
                _write_wav(path, result.audio)
                print(f"[{result.description}; saved {path}]")
            elif result.error:
                print(f"[tool error: {result.error}]")


def _write_wav(path: Path, audio) -> None:
    soundfile.write(path, audio, 16000, subtype="PCM_16")
