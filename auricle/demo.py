"""``python -m auricle.demo`` (``make demo``): every task, chat and tool use, on a few example clips.

No trained model ships with auricle yet, so the demo builds a tiny **random** model (a few layers,
real Qwen-Audio architecture and task tags, a small byte-level BPE trained here on a built-in text),
saves it as a checkpoint, loads it back with ``auricle.load`` and runs everything through the public
API. The outputs are random text: the demo shows the API, prompts, long-audio handling, writers
and tools working end to end, not recognition quality. Once a shipped model exists the demo uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from auricle import api
from auricle.checkpoint import save_checkpoint
from auricle.model import AudioLM, preset
from auricle.tasks.cli import printable
from auricle.tasks.writers import get_writer
from auricle.tokenizer import train_bpe_tokenizer
from auricle.tokenizer.specials import ALL_V1_SPECIALS, V2_SPECIALS

SR = 16000

#: Text the demo tokenizer is trained on (any text would do; the model is random anyway).
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


def example_clips(folder: Path) -> dict[str, Path]:
    """A few synthetic clips written as WAV files: a voice-like sound, a note, a scene, a long one."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    syllables = (np.sin(2 * np.pi * 3.5 * t) > 0).astype(np.float32)  # on/off at a speech-like rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6)) * syllables * 0.2
    note_t = np.arange(2 * SR) / SR
    note = np.sin(2 * np.pi * 440 * note_t) * np.exp(-3 * note_t) * 0.5
    scene = rng.standard_normal(4 * SR) * 0.05 + np.sin(2 * np.pi * 1000 * np.arange(4 * SR) / SR) * 0.02
    long = np.concatenate([voice, np.zeros(SR // 2)] * 9)  # 31.5 s: longer than one 30 s window
    clips = {"voice.wav": voice, "note.wav": note, "street.wav": scene, "long-talk.wav": long}
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in clips.items():
        soundfile.write(folder / name, np.asarray(audio, dtype=np.float32), SR)
    return {name: folder / name for name in clips}


def run(model_path: str | None = None, *, max_new_tokens: int = 12) -> int:
    """Run the demo; returns an exit code."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="auricle-demo-") as tmp:
        tmp_dir = Path(tmp)
        name = model_path or api.DEFAULT_MODEL
        if name is None:
            print(
                "NOTE: no trained model ships with auricle yet. This demo builds a tiny model with RANDOM\n"
                "weights, so every output below is random text: it demonstrates the API and the plumbing\n"
                "(prompts, long audio, writers, chat, tools), not recognition quality.\n"
            )
            name = str(build_random_checkpoint(tmp_dir / "tiny-random-model"))
        model = api.load(name, device="cpu", max_new_tokens=max_new_tokens)
        print(f"model: {model!r}, {sum(p.numel() for p in model.engine.model.parameters()):,} parameters\n")
        clips = example_clips(tmp_dir / "clips")
        voice, note, street, long = (
            str(clips[k]) for k in ("voice.wav", "note.wav", "street.wav", "long-talk.wav")
        )

        def show(title: str, value) -> None:
            print(f"{title:<34} {printable(str(value))}")

        lang = model.detect_language(voice)
        show("detect_language(voice)", f"{lang.language} (p={lang.score:.2f})")
        show("transcribe(voice)", repr(model.transcribe(voice, language="en").text))
        words = model.transcribe(voice, language="en", word_timestamps=True).words
        show("transcribe(word_timestamps)", [(w.word, w.start, w.end) for w in words[:4]])
        show("translate(voice, to='de')", repr(model.translate(voice, language="en", to="de").text))
        show("caption(street)", repr(model.caption(street).text))
        show("ask(street, 'Where is this?')", repr(model.ask(street, "Where is this?").text))
        scene = model.classify(street, "scene")
        show("classify(street, 'scene')", f"{scene.label!r} (score {scene.score})")
        closed = model.classify(street, "scene", candidates=["street traffic", "park", "metro station"])
        show("classify(..., candidates=[...])", [(lab.label, lab.score) for lab in closed.labels])
        show("analyze_music(note)", model.analyze_music(note))
        batch = model.caption([voice, note, street], batch_size=2)
        show("caption([3 clips], batch_size=2)", [c.text for c in batch])
        longform = model.transcribe(long, language="en", word_timestamps=True)
        show(
            f"transcribe({len(longform.segments)} segments, 31.5 s)",
            f"{len(longform.words)} words, ends {longform.duration} s",
        )

        out_dir = tmp_dir / "out"
        written = get_writer("all", out_dir)(longform, long, word_timestamps=True)
        show("get_writer('all')", ", ".join(p.name for p in written))

        print("\nchat (streamed, with the built-in audio-editing tools):")
        session = model.chat(audio_tools=True)
        print("  user: What is said in this audio?  [voice.wav]")
        print("  assistant: ", end="")
        for delta in session.send("What is said in this audio?", audios=[voice], stream=True):
            print(printable(delta), end="", flush=True)
        print(f"\n  ({len(session.messages)} messages, {len(session.audios)} audio(s) in the session)")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m auricle.demo [--model PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m auricle.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="use this checkpoint instead of the shipped / random model")
    parser.add_argument("--max-new-tokens", type=int, default=12, help="tokens per answer (default: 12)")
    args = parser.parse_args(argv)
    return run(args.model, max_new_tokens=args.max_new_tokens)


if __name__ == "__main__":
    sys.exit(main())
