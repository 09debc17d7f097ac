"""`auricle eval`: score a model (``synthetic``: on a synthetic-corpus manifest, every task family),
compare two scorings of one manifest (``compare``: a paired bootstrap) and probe the audio encoder's
layers (``layers``: where a label lives)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``eval`` command and its sub-commands to the top-level ``subparsers``."""
    ev = subparsers.add_parser("eval", help="evaluate a model with the project's metrics")
    sub = ev.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    p = sub.add_parser(
        "synthetic",
        help="evaluate on a synthetic-corpus manifest, every task family",
        description="Run the model on every example of a manifest (e.g. corpus/test.jsonl) and print "
        "per-task metrics: WER/CER, word-boundary shift, BLEU, CIDEr-D and accuracies.",
    )
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder (or shipped model name)")
    p.add_argument("--manifest", required=True, type=Path, help="JSONL manifest to evaluate on")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="first N examples of each task")
    p.add_argument("--batch-size", type=int, default=8, metavar="B", help="audios per model call (8)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the report as JSON")
    p.add_argument(
        "--samples",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write every example's answer and reference as JSON lines (input of `eval compare`); "
        "gzipped when OUT ends in .gz",
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=None, metavar="N", help="cap on generated tokens per answer"
    )
    p.add_argument(
        "--beam-size", type=int, default=1, metavar="K", help="beam search with K beams (1: greedy)"
    )
    p.add_argument(
        "--timestamp-window",
        type=int,
        default=None,
        metavar="CS",
        help="word-timestamp refinement window in centiseconds for SRWT (0: off; default: transcribe's)",
    )
    p.add_argument(
        "--by-sentence-kind",
        action="store_true",
        help="also give WER/CER per kind of synthetic sentence (parallel, carrier, list)",
    )
    _add_device_and_progress(p)
    p.set_defaults(func=_synthetic)

    c = sub.add_parser(
        "compare",
        help="paired bootstrap of two evaluations of one manifest (their --samples files)",
        description="Pair the examples of two `eval synthetic --samples` files and resample them: per "
        "metric, both values, B − A and its 95%% interval. A difference whose interval excludes zero is "
        "one the test split can tell apart.",
    )
    c.add_argument("a", type=Path, metavar="A", help="samples of the baseline")
    c.add_argument("b", type=Path, metavar="B", help="samples of the model compared with it")
    c.add_argument("--resamples", type=int, default=1000, metavar="N", help="bootstrap resamples (1000)")
    c.add_argument("--seed", type=int, default=0, help="resampling seed (0)")
    c.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the rows as JSON")
    c.set_defaults(func=_compare)
    lp = sub.add_parser(
        "layers",
        help="linear probes of the audio encoder's layers (where a label lives)",
        description="For one label (voice type, prosody class, note pitch class …), fit a softmax "
        "regression on each encoder layer's pooled states (mean and standard deviation over frames) "
        "of training clips and print its accuracy on test clips, layer by layer: the evidence for "
        "choosing encoder.tap_layers.",
    )
    lp.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder (or shipped model name)")
    lp.add_argument("--train", required=True, type=Path, help="manifest the probes are fitted on")
    lp.add_argument("--test", required=True, type=Path, help="manifest the probes are scored on")
    lp.add_argument(
        "--target",
        action="append",
        required=True,
        help="what to probe (repeatable): voice, prosody, scene, language, note-pitch-class, note-instrument",
    )
    lp.add_argument("--train-clips", type=int, default=1200, metavar="N", help="training clips drawn (1200)")
    lp.add_argument("--seed", type=int, default=0, help="seed of the draw (0)")
    _add_device_and_progress(lp)
    lp.set_defaults(func=_layers)
    ev.set_defaults(func=lambda args: _help(ev))


def _add_device_and_progress(parser: argparse.ArgumentParser) -> None:
    """The options of every sub-command that runs a model: its device and the progress bar."""
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _synthetic(args: argparse.Namespace) -> int:
    import auricle
    from auricle.eval.synthetic import evaluate_manifest, load_examples

    load_examples(args.manifest, limit_per_task=args.limit)  # fail on a bad manifest before loading the model
    model = auricle.load(
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        beam_size=args.beam_size,
    )
    report = evaluate_manifest(
        model,
        args.manifest,
        limit_per_task=args.limit,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        by_sentence_kind=args.by_sentence_kind,
        timestamp_window=args.timestamp_window,
    )
    print(report.to_markdown(), end="")
    if args.samples:
        report.write_samples(args.samples)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from auricle.eval.compare import compare_samples, to_dict, to_markdown

    diffs = compare_samples(args.a, args.b, resamples=args.resamples, seed=args.seed)
    print(to_markdown(diffs, str(args.a), str(args.b)), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_dict(diffs), indent=2) + "\n", encoding="utf-8")
    return 0


def _layers(args: argparse.Namespace) -> int:
    import auricle
    from auricle.eval.layers import check_targets, probe_layers

    check_targets(args.target)  # before the model loads
    model = auricle.load(args.checkpoint, device=args.device, dtype="float32").engine.model
    reports = probe_layers(
        model,
        args.train,
        args.test,
        args.target,
        train_clips=args.train_clips,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print("\n".join(r.to_markdown() for r in reports), end="")
    return 0


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
