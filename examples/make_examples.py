"""Regenerate ``examples/``: a few short clips from auricle's synthetic generator and their manifest.

Run from the repository root with the project's environment::

    .venv/bin/python examples/make_examples.py

It generates a small corpus into a temporary folder (seed 2026, six languages, almost every clip in
the ``test`` split, so sentences and espeak-ng voices are ones the training split never has), picks
one clip per entry of :data:`PICKS` (the first one, in clip order, that matches; clips that come
with a one-audio chat first), copies the FLAC files here under readable names and writes
``examples.jsonl``: every manifest row about the chosen clips, audio paths rewritten. The output
depends only on the generator's code and the installed synthesisers (their versions are printed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auricle.data.manifest import Example, read_manifest, write_manifest
from auricle.data.synth import SynthConfig, generate_corpus

HERE = Path(__file__).resolve().parent
SEED = 2026
MAX_CLIPS = 200
LANGUAGES = ("en", "zh", "de", "fr", "es", "it")
MAX_BYTES = 1_500_000  # keep the committed folder small

#: What ``auricle data synth`` would be called with to make the same temporary corpus.
SYNTH_COMMAND = (
    f"auricle data synth --out TMP --seed {SEED} --max-clips {MAX_CLIPS} --languages {','.join(LANGUAGES)} "
    "--valid-frac 0 --test-frac 0.95 --no-progress"
)


@dataclass
class Clip:
    """What the manifest says about one generated clip (from its non-chat rows)."""

    name: str  # e.g. speech-0000057
    path: Path
    kind: str
    duration: float
    split: str
    clean: bool
    language: str | None
    voice: str | None
    labels: dict[str, str]  # task -> label (scene, event, vocal, emotion)
    has_chat: bool = False  # a chat example about this clip alone


Rule = Callable[[Clip, dict[str, Clip]], bool]


def _speech(language: str, *, extra: Rule | None = None) -> Rule:
    def rule(c: Clip, chosen: dict[str, Clip]) -> bool:
        ok = c.kind == "speech" and c.language == language and c.clean and 2.0 <= c.duration <= 6.0
        return ok and (extra is None or extra(c, chosen))

    return rule


def _other_backend(c: Clip, chosen: dict[str, Clip]) -> bool:
    first = chosen["en-speech-1"].voice or ""
    return (c.voice or "").split(":")[0] != first.split(":")[0]


def _emotional(c: Clip, chosen: dict[str, Clip]) -> bool:
    return c.labels.get("emotion") not in (None, "neutral")


def _sound(kind: str, max_seconds: float, *, min_events: int = 1) -> Rule:
    def rule(c: Clip, chosen: dict[str, Clip]) -> bool:
        events = len(c.labels.get("event", "").split(", "))
        return c.kind == kind and c.clean and 2.0 <= c.duration <= max_seconds and events >= min_events

    return rule


#: File name (without .flac) -> which clip to take. Scenes are 6-10 s long by construction.
PICKS: dict[str, Rule] = {
    "en-speech-1": _speech("en"),
    "en-speech-2": _speech("en", extra=_other_backend),  # another synthesiser: another voice
    "zh-speech": _speech("zh"),
    "de-speech": _speech("de"),
    "fr-speech": _speech("fr", extra=_emotional),  # the emotion example (a non-neutral prosody)
    "es-speech": _speech("es"),
    "it-speech": _speech("it"),
    "scene": _sound("scene", 7.0),
    "event": _sound("event", 6.0, min_events=2),
    "note": _sound("note", 6.0),
    "music": _sound("music", 6.0),
}


def read_clips(corpus: Path) -> tuple[dict[str, Clip], list[dict[str, Any]]]:
    """The clips of a generated corpus (in clip order) and all its manifest rows as dicts."""
    rows = [
        json.loads(ex.to_json())
        for split in ("train", "valid", "test")
        for ex in read_manifest(corpus / f"{split}.jsonl")
    ]
    clips: dict[str, Clip] = {}
    for row in rows:
        if row["task"] == "chat":
            continue
        meta = row["meta"]
        clip = clips.get(meta["clip"])
        if clip is None:
            clip = clips[meta["clip"]] = Clip(
                name=meta["clip"],
                path=corpus / row["audio"][0],
                kind=meta["kind"],
                duration=row["duration"],
                split=row["split"],
                clean=bool(meta.get("clean")),
                language=row.get("language"),
                voice=meta.get("voice"),
                labels={},
            )
        if row.get("label"):
            clip.labels[row["task"]] = row["label"]
    for row in rows:
        if row["task"] == "chat" and len(row["audio"]) == 1:
            name = Path(row["audio"][0]).stem
            if name in clips:
                clips[name].has_chat = True
    return dict(sorted(clips.items())), rows


def choose(clips: dict[str, Clip]) -> dict[str, Clip]:
    """One test-split clip per :data:`PICKS` entry; clips with a one-audio chat are preferred."""
    chosen: dict[str, Clip] = {}
    ordered = sorted(clips.values(), key=lambda c: (not c.has_chat, c.name))
    for out_name, rule in PICKS.items():
        used = {c.name for c in chosen.values()}
        match = next(
            (c for c in ordered if c.split == "test" and c.name not in used and rule(c, chosen)), None
        )
        if match is None:
            raise SystemExit(f"no generated clip fits {out_name!r}; raise MAX_CLIPS ({MAX_CLIPS})")
        chosen[out_name] = match
    return chosen


def rewrite_rows(rows: list[dict[str, Any]], chosen: dict[str, Clip], corpus: Path) -> list[dict[str, Any]]:
    """The rows whose audios are all chosen clips, audio paths renamed to the example files."""
    renamed = {str(c.path.relative_to(corpus)): f"{name}.flac" for name, c in chosen.items()}
    out = []
    for row in rows:
        if not all(a in renamed for a in row["audio"]):
            continue
        row = dict(row, audio=[renamed[a] for a in row["audio"]])
        if "clips" in row["meta"]:
            row["meta"] = dict(row["meta"], clips=[renamed[a] for a in row["meta"]["clips"]])
        out.append(row)
    order = {f"{name}.flac": k for k, name in enumerate(chosen)}
    return sorted(out, key=lambda r: (order[r["audio"][0]], len(r["audio"])))


def make_examples(out: Path = HERE) -> list[Path]:
    """Generate the corpus, choose the clips and write them and ``examples.jsonl`` into ``out``."""
    with tempfile.TemporaryDirectory(prefix="auricle-examples-") as tmp:
        corpus = Path(tmp)
        config = SynthConfig(
            out=corpus,
            seed=SEED,
            max_clips=MAX_CLIPS,
            languages=LANGUAGES,
            valid_frac=0.0,
            test_frac=0.95,  # held-out sentences and voices (docs/data.md, "Splits")
            progress=False,
            command=SYNTH_COMMAND,
        )
        generate_corpus(config)
        readme = (corpus / "README.md").read_text(encoding="utf-8")
        print(next(line for line in readme.splitlines() if line.startswith("- versions:")))
        clips, rows = read_clips(corpus)
        chosen = choose(clips)
        for old in out.glob("*.flac"):
            old.unlink()
        written = []
        for name, clip in chosen.items():
            shutil.copyfile(clip.path, out / f"{name}.flac")
            written.append(out / f"{name}.flac")
        examples = [Example.from_dict(r) for r in rewrite_rows(rows, chosen, corpus)]
        for ex in examples:
            ex.validate()
        write_manifest(out / "examples.jsonl", examples)
    written.append(out / "examples.jsonl")
    for name, clip in chosen.items():
        labels = ", ".join(f"{k}={v}" for k, v in clip.labels.items())
        print(f"{name + '.flac':<17} {clip.name:<15} {clip.duration:5.2f} s  {clip.voice or '':<34} {labels}")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(examples)} manifest rows; examples/ holds {total / 1e6:.2f} MB")
    if total > MAX_BYTES:
        raise SystemExit(f"examples/ is {total} bytes, more than {MAX_BYTES}: choose shorter clips")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python examples/make_examples.py [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: examples/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    make_examples(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
