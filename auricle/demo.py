"""``python -m auricle.demo`` (``make demo``): the model on the example clips, every task, next to the references.

The clips in ``examples/`` (made by ``examples/make_examples.py`` with auricle's synthetic generator)
come with ``examples.jsonl``, the generator's labels for them. For each task the demo prints the
model's answer under the reference: language ID, transcripts with their word (or, for Chinese,
character) error rate, word times, translation, captions, questions, classification, music, and a
two-turn chat; then the time taken and the real-time factor. It uses only the public API
(``auricle.load`` and the :class:`~auricle.api.AudioModel` methods).

Without ``--model`` the shipped default model is used. While none is installed, the demo builds a
tiny model with **random** weights (saying so): its answers are random text, the plumbing is real.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import auricle
from auricle import api
from auricle.checkpoint import save_checkpoint
from auricle.data.manifest import Example
from auricle.errors import AuricleError
from auricle.eval.metrics import error_rate, normalize
from auricle.eval.synthetic import CHARACTER_LANGUAGES, CLASSIFY_KINDS, load_examples
from auricle.model import AudioLM, preset
from auricle.tasks.cli import printable
from auricle.tasks.results import NoteAnalysis
from auricle.tokenizer import train_bpe_tokenizer
from auricle.tokenizer.specials import ALL_V1_SPECIALS, V2_SPECIALS

#: The repository's example clips (next to the package in a source checkout).
EXAMPLES_DIR = Path(auricle.__file__).resolve().parents[1] / "examples"
MANIFEST = "examples.jsonl"
RANDOM_MAX_NEW_TOKENS = 12  # a random model never stops by itself: keep its answers short
CHAT_MAX_NEW_TOKENS = 96  # the chat default is 512; the reference replies are one sentence
TEXT_WIDTH = 96  # longer answers are cut (with "…") so that each stays on one line
FIRST_WORDS = 4  # words shown with their times

#: Text the random model's tokenizer is trained on (any text would do; the model is random anyway).
BUILTIN_TEXT = """\
Mister Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.
A dog barks twice in a quiet street while a car passes by and birds sing in the trees.
The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore.
Please call Stella and ask her to bring these things with her from the store.
Music plays softly: a piano note, a guitar chord, a violin, drums and a bright flute.
Hello, how are you today? I am fine, thank you. What time is it? It is twenty past nine.
"""


def build_random_checkpoint(folder: str | Path, *, style: str = "qwen-audio", seed: int = 0) -> Path:
    """Save a tiny randomly initialised model with a real tokenizer into ``folder``; returns it.

    ``style`` is ``"qwen-audio"`` (v1: task tags, timestamps) or ``"qwen2-audio"`` (v2 tokens).
    The tokenizer is a byte-level BPE trained on :data:`BUILTIN_TEXT` with the family's special
    tokens; the config's token ids are taken from it.
    """
    folder = Path(folder)
    specials = ALL_V1_SPECIALS if style == "qwen-audio" else V2_SPECIALS
    tok = train_bpe_tokenizer(BUILTIN_TEXT.splitlines() * 4, 512, specials=specials)
    cfg = preset("tiny-qwen-audio" if style == "qwen-audio" else "tiny-qwen2-audio")
    ids: dict = {"pad_token_id": tok.pad_id}
    if style == "qwen-audio":
        ids.update(
            audio_start_id=tok.special_id("<audio>"),
            audio_end_id=tok.special_id("</audio>"),
            eos_token_ids=[tok.eos_id],
        )
    else:
        ids.update(
            audio_token_id=tok.special_id("<|AUDIO|>"),
            eos_token_ids=[tok.special_id("<|im_end|>"), tok.eos_id],
        )
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, vocab_size=len(tok)), **ids)
    torch.manual_seed(seed)
    model = AudioLM(cfg)
    save_checkpoint(model, folder)
    tok.save(folder)
    return folder


# ---------------------------------------------------------------------------------------- printing
def _cut(text: str, width: int = TEXT_WIDTH) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    """Print rows in aligned columns (the last column, free text, is not padded)."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    for row in [headers, *rows]:
        print("  " + "  ".join([c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]).rstrip())


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


# ---------------------------------------------------------------------------------------- running
def _by(rows: list[Example], key: Callable[[Example], Any]) -> dict[Any, list[Example]]:
    groups: dict[Any, list[Example]] = defaultdict(list)
    for ex in rows:
        groups[key(ex)].append(ex)
    return groups


@dataclass
class Demo:
    """The model, the example rows and the time spent in model calls."""

    model: api.AudioModel
    folder: Path
    examples: list[Example]
    model_seconds: float = 0.0
    audio_seconds: float = 0.0
    calls: int = 0
    by_task: dict[str, list[Example]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_task = _by(self.examples, lambda ex: ex.task)

    def rows(self, task: str) -> list[Example]:
        """The example rows of ``task`` (manifest order)."""
        return self.by_task.get(task, [])

    def path(self, ex: Example, k: int = 0) -> str:
        """Path of the ``k``-th audio of ``ex``."""
        return str(self.folder / ex.audio[k])

    def call(self, fn: Callable[..., Any], rows: list[Example], *args: Any, **kwargs: Any) -> Any:
        """``fn([audio of each row], *args, **kwargs)``, timed; the audio seconds are counted."""
        started = time.perf_counter()
        out = fn([self.path(ex) for ex in rows], *args, **kwargs)
        self.model_seconds += time.perf_counter() - started
        self.audio_seconds += sum(ex.duration for ex in rows)
        self.calls += 1
        return out


def name(ex: Example, k: int = 0) -> str:
    """The short name of an example's audio (its file name without extension)."""
    return Path(ex.audio[k]).stem


def _error_rate(ex: Example, hyp: str) -> str:
    unit = "CER" if ex.language in CHARACTER_LANGUAGES else "WER"
    return f"{unit} {100 * error_rate([ex.text or ''], [hyp], ex.language):.0f}%"


def show_languages(d: Demo) -> None:
    """Language identification of every speech clip."""
    rows = d.rows("lid")
    if not rows:
        return
    _section("Language identification  (model.detect_language)")
    hyps = d.call(d.model.detect_language, rows)
    table = [
        [name(ex), ex.language or "", f"{h.language} (p={h.score:.2f})", _mark(h.language == ex.language)]
        for ex, h in zip(rows, hyps)
    ]
    _table(["clip", "reference", "model", ""], table)


def show_transcripts(d: Demo) -> None:
    """Transcripts with their error rate, one batched call per spoken language."""
    rows = d.rows("asr")
    if not rows:
        return
    _section("Transcription  (model.transcribe, language given; WER, CER for Chinese)")
    table = []
    for language, group in _by(rows, lambda ex: ex.language).items():
        for ex, h in zip(group, d.call(d.model.transcribe, group, language=language)):
            table.append([name(ex), _error_rate(ex, h.text), "model: " + _cut(h.text)])
            table.append(["", "", "ref:   " + _cut(ex.text or "")])
    _table(["clip", "error", "text"], table)


def show_word_times(d: Demo) -> None:
    """The first words of each English clip with their start and end, model and reference."""
    rows = [ex for ex in d.rows("srwt") if ex.language == "en"]
    if not rows:
        return
    _section("Word timestamps  (model.transcribe(..., word_timestamps=True), seconds)")

    def words(ws: list[Any]) -> str:
        shown = ", ".join(f"{printable(w.word)} {w.start:.2f}–{w.end:.2f}" for w in ws[:FIRST_WORDS])
        return shown + (" …" if len(ws) > FIRST_WORDS else "") if ws else "(no words)"

    table = []
    for ex, h in zip(rows, d.call(d.model.transcribe, rows, language="en", word_timestamps=True)):
        table.append([name(ex), "model: " + words(h.words)])
        table.append(["", "ref:   " + words(ex.words or [])])
    _table(["clip", "first words"], table)


def show_translations(d: Demo) -> None:
    """Speech translation to the target language of each s2tt row."""
    rows = d.rows("s2tt")
    if not rows:
        return
    _section("Translation  (model.translate)")
    table = []
    for (src, tgt), group in _by(rows, lambda ex: (ex.language, ex.target_language)).items():
        for ex, h in zip(group, d.call(d.model.translate, group, to=tgt, language=src)):
            table.append([name(ex), f"{src}→{tgt}", "model: " + _cut(h.text)])
            table.append(["", "", "ref:   " + _cut(ex.text or "")])
    _table(["clip", "", "translation"], table)


def show_captions(d: Demo) -> None:
    """Captions of the sound clips (speech clips have captions too; the sounds are the point here)."""
    rows = [ex for ex in d.rows("caption") if ex.language is None]
    if not rows:
        return
    _section("Captions  (model.caption)")
    table = []
    for style, group in _by(rows, lambda ex: ex.caption_style or "clotho").items():
        for ex, c in zip(group, d.call(d.model.caption, group, style=style)):
            table.append([name(ex), "model: " + _cut(c.text)])
            table.append(["", "ref:   " + _cut(ex.text or "")])
    _table(["clip", "caption"], table)


def show_questions(d: Demo) -> None:
    """One question per clip (its first aqa row), all in one batched call."""
    first: dict[str, Example] = {}
    for ex in d.rows("aqa"):
        first.setdefault(name(ex), ex)
    rows = list(first.values())
    if not rows:
        return
    _section("Questions  (model.ask)")
    answers = d.call(d.model.ask, rows, [ex.question or "" for ex in rows])
    table = [
        [name(ex), _cut(ex.question or "", 48), _cut(a.text, 40), ex.text or ""]
        for ex, a in zip(rows, answers)
    ]
    _table(["clip", "question", "model", "reference"], table)


def show_classification(d: Demo) -> None:
    """Scene, event, vocal and emotion labels, one batched call per kind."""
    tasks = [t for t in CLASSIFY_KINDS if d.rows(t)]
    if not tasks:
        return
    _section("Classification  (model.classify)")
    table, timed = [], []
    for task in tasks:
        rows = d.rows(task)
        for ex, c in zip(rows, d.call(d.model.classify, rows, CLASSIFY_KINDS[task])):
            ok = normalize(c.label) == normalize(ex.label or "")  # as auricle.eval scores it
            score = "" if c.score is None else f" (p={c.score:.2f})"
            table.append(
                [name(ex), CLASSIFY_KINDS[task], ex.label or "", _cut(c.label, 40) + score, _mark(ok)]
            )
            if task == "event":
                timed.append([name(ex), "model: " + _events(c.events)])
                timed.append(["", "ref:   " + _events(ex.events or [])])
    _table(["clip", "kind", "reference", "model", ""], table)
    if timed:
        print("\n  sound events with their times (Classification.events, seconds)")
        _table(["clip", "events"], timed)


def _events(events: list[Any]) -> str:
    return ", ".join(f"{printable(e.label)} {e.start:.2f}–{e.end:.2f}" for e in events) or "(no times)"


def show_music(d: Demo) -> None:
    """Note analysis of the note clip and descriptions of the music clips."""
    notes, described = d.rows("note_analysis"), d.rows("music_caption")
    if not (notes or described):
        return
    _section("Music  (model.analyze_music; music descriptions)")
    table = []
    for ex, n in zip(notes, d.call(d.model.analyze_music, notes) if notes else []):
        ref = ex.note or {}
        mine = f"{n.note_name or '?'} ({n.pitch}), velocity {n.velocity}, {n.instrument}, {', '.join(n.qualities) or '-'}"
        pitch = ref.get("pitch")
        ref_name = NoteAnalysis(pitch, None, None, [], "").note_name or "?"
        theirs = (
            f"{ref_name} ({pitch}), velocity {ref.get('velocity')}, {ref.get('instrument')}, "
            f"{', '.join(ref.get('qualities') or []) or '-'}"
        )
        table.append([name(ex), "note", "model: " + _cut(mine)])
        table.append(["", "", "ref:   " + theirs])
    if described:
        texts = d.call(lambda paths: [c.text for c in d.model.describe_music(paths)], described)
        for ex, text in zip(described, texts):
            table.append([name(ex), "description", "model: " + _cut(text)])
            table.append(["", "", "ref:   " + _cut(ex.text or "")])
    _table(["clip", "", "analysis"], table)


def _turns(ex: Example, role: str) -> list[str]:
    """The text of each ``role`` turn of a chat example."""
    return [
        " ".join(c["text"] for c in m["content"] if c.get("type") == "text")
        for m in ex.messages or []
        if m["role"] == role
    ]


def show_chat(d: Demo, max_new_tokens: int) -> None:
    """A two-turn chat about one clip: the first two user turns of a manifest chat, streamed."""
    chats = [ex for ex in d.rows("chat") if len(ex.audio) == 1 and len(_turns(ex, "user")) >= 2]
    if not chats:
        return
    ex = chats[0]
    questions, references = _turns(ex, "user")[:2], _turns(ex, "assistant")
    _section(f"Chat  (model.chat(), two turns about {name(ex)}, greedy, streamed)")
    session = d.model.chat()
    # greedy rather than the chat's default sampling, so that the demo prints the same every run
    session.generation = dataclasses.replace(
        session.generation, max_new_tokens=max_new_tokens, do_sample=False
    )
    for turn, question in enumerate(questions):
        audios = [d.path(ex)] if turn == 0 else []
        print(f"  user:      {question}" + (f"  [{name(ex)}]" if audios else ""))
        print("  assistant: ", end="", flush=True)
        started = time.perf_counter()
        for delta in session.send(question, audios=audios, stream=True):
            print(printable(delta), end="", flush=True)
        d.model_seconds += time.perf_counter() - started
        d.audio_seconds += ex.duration  # every turn hears the clip again
        d.calls += 1
        print()
        if turn < len(references):
            print(f"  reference: {references[turn]}")


SECTIONS: list[Callable[[Demo], None]] = [
    show_languages,
    show_transcripts,
    show_word_times,
    show_translations,
    show_captions,
    show_questions,
    show_classification,
    show_music,
]


def _missing_default_model() -> str | None:
    """Why the shipped default model cannot be loaded (None when it can)."""
    if api.DEFAULT_MODEL is None:
        return "no trained model ships with this version of auricle (auricle.api.DEFAULT_MODEL is None)"
    if api.DEFAULT_MODEL in api.available_models() or Path(api.DEFAULT_MODEL).is_dir():
        return None
    folder = api.SHIPPED_MODELS.get(api.DEFAULT_MODEL)
    return f"the shipped model {api.DEFAULT_MODEL!r} is not installed (no folder {folder})"


def run(
    model_path: str | None = None,
    *,
    examples: str | Path | None = None,
    max_new_tokens: int | None = None,
    device: str | None = None,
) -> int:
    """Run the demo; returns an exit code (2 when the example folder is missing)."""
    started = time.perf_counter()
    folder = Path(examples) if examples is not None else EXAMPLES_DIR
    manifest = folder / MANIFEST
    if not manifest.is_file():
        print(
            f"error: {manifest} not found. The example clips live in the repository's examples/ "
            "folder (regenerate them with `.venv/bin/python examples/make_examples.py`); "
            "pass --examples DIR to use another folder holding examples.jsonl and its clips",
            file=sys.stderr,
        )
        return 2
    rows = load_examples(manifest)
    with tempfile.TemporaryDirectory(prefix="auricle-demo-") as tmp:
        name_or_path = model_path or api.DEFAULT_MODEL
        missing = None if model_path else _missing_default_model()
        random_model = missing is not None
        if random_model:
            print(
                f"NOTE: {missing}.\n"
                "This demo builds a tiny model with RANDOM weights instead, so every answer below is\n"
                "random text: it shows the API and the plumbing, not recognition quality.\n"
                "Pass --model PATH to run a trained checkpoint.\n"
            )
            name_or_path = str(build_random_checkpoint(Path(tmp) / "tiny-random-model"))
            max_new_tokens = max_new_tokens or RANDOM_MAX_NEW_TOKENS
        model = api.load(name_or_path, device=device or "cpu", max_new_tokens=max_new_tokens)
        params = sum(p.numel() for p in model.engine.model.parameters())
        chat = ""
        if model.chat_engine is not model.engine:  # a chat variant: count what it adds
            shared = {id(p) for p in model.engine.model.parameters()}
            extra = sum(p.numel() for p in model.chat_engine.model.parameters() if id(p) not in shared)
            chat = f" + a chat variant of {extra / 1e6:.1f} M"
        loaded = time.perf_counter() - started
        clips = sorted({a for ex in rows for a in ex.audio})
        label = "tiny random model" if random_model else name_or_path
        print(f"model:    {label} ({params / 1e6:.1f} M parameters{chat}, loaded in {loaded:.1f} s)")
        print(f"examples: {folder} ({len(clips)} clips, {len(rows)} manifest rows)")
        demo = Demo(model, folder, rows)
        for section in SECTIONS:
            section(demo)
        show_chat(demo, max_new_tokens or CHAT_MAX_NEW_TOKENS)
    total = time.perf_counter() - started
    rtf = demo.model_seconds / max(demo.audio_seconds, 1e-9)
    print(
        f"\ndone in {total:.1f} s: {demo.calls} model calls took {demo.model_seconds:.1f} s for "
        f"{demo.audio_seconds:.1f} s of audio (real-time factor {rtf:.3f}, lower is faster) on {model.engine.device}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m auricle.demo [--model PATH] [--examples DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m auricle.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="checkpoint folder or shipped model name (default: the shipped default model)"
    )
    parser.add_argument(
        "--examples", help=f"folder with examples.jsonl and its clips (default: {EXAMPLES_DIR})"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, help="tokens per answer (default: each task's own limit)"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cpu)")
    args = parser.parse_args(argv)
    try:
        return run(args.model, examples=args.examples, max_new_tokens=args.max_new_tokens, device=args.device)
    except AuricleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
