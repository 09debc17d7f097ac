"""ModelEngine on a real (tiny, random) AudioLM: batching, scoring and generation agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import auricle.api
import auricle.errors
from auricle.demo import build_random_checkpoint
from auricle.errors import AudioError
from auricle.generate import GenerationConfig
from auricle.generate.utf8 import ACCEPT, REJECT, Utf8Rules
from auricle.prompt.segments import Audio, Special, Text
from auricle.tasks.engine import Request


@pytest.fixture(scope="module", params=["qwen-audio", "qwen2-audio"])
def model(request, tmp_path_factory):
    folder = build_random_checkpoint(tmp_path_factory.mktemp(request.param), style=request.param, seed=2)
    return auricle.api.load(folder, device="cpu", max_new_tokens=6)


def clip(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)


def requests(model) -> list[Request]:
    tail = Special("<|startoftranscript|>") if model.prompt_style == "qwen-audio" else Text("Describe:")
    return [Request([Audio(0), tail], [clip(s, i)]) for i, s in enumerate([1.0, 2.7, 0.4])]


def test_batching_does_not_change_the_tokens(model):
    engine = model.engine
    config = GenerationConfig(max_new_tokens=5)
    engine.batch_size = 1
    alone = [r.token_ids for r in engine.generate(requests(model), config)]
    engine.batch_size = 3
    together = [r.token_ids for r in engine.generate(requests(model), config)]
    assert alone == together


def test_scores_agree_with_generation(model):
    engine = model.engine
    reqs = requests(model)
    logprobs = engine.next_token_logprobs(reqs)
    assert logprobs.shape == (3, len(engine.tokenizer))
    assert torch.allclose(logprobs.exp().sum(-1), torch.ones(3), atol=1e-4)
    results = engine.generate(reqs, GenerationConfig(max_new_tokens=3, stop_token_ids=()))
    for row, (req, res) in enumerate(zip(reqs, results)):
        first = res.token_ids[0]
        # greedy takes the most likely token that starts a character (the engine's UTF-8 rules)
        allowed = Utf8Rules.for_tokenizer(engine.tokenizer).next_state[ACCEPT] != REJECT
        assert first == int(logprobs[row].masked_fill(~allowed, float("-inf")).argmax())
        two = engine.score(req, [res.token_ids[:1], res.token_ids[:2], []])
        assert two[0] == pytest.approx(float(logprobs[row, first]), abs=1e-4)
        assert two[1] < two[0] and two[2] == 0.0
        per_token = engine.token_logprobs(req, res.token_ids[:2])
        assert per_token[0] == pytest.approx(two[0], abs=1e-4)
        assert sum(per_token) == pytest.approx(two[1], abs=1e-4)


def test_tasks_run_end_to_end(model):
    audio = clip(1.2, 7)
    assert model.detect_language(audio).language in model.detect_language(audio).probabilities
    assert isinstance(model.transcribe([audio, audio], language="en")[1].text, str)
    closed = model.classify(audio, "scene", candidates=["park", "bus"])
    assert sum(lab.score for lab in closed.labels) == pytest.approx(1.0, abs=1e-4)
    session = model.chat()
    streamed = "".join(session.send("hi", audios=[audio], stream=True))
    assert streamed.strip() == session.last_reply.text
    assert session.messages[-1]["role"] == "assistant"


def test_too_short_audio_is_refused_by_the_engine(model):
    with pytest.raises(AudioError, match="at least 480 samples"):
        model.engine.generate([Request([Audio(0)], [np.zeros(100, np.float32)])], GenerationConfig())


def test_beam_size_applies_to_deterministic_generation_only(model):
    engine = model.engine
    assert engine.beam_size == 1
    greedy = GenerationConfig(max_new_tokens=5)
    engine.beam_size = 3
    try:
        assert engine._generation_config(greedy).num_beams == 3
        assert engine._generation_config(greedy, streaming=True).num_beams == 1
        assert engine._generation_config(greedy.replace(do_sample=True)).num_beams == 1
        assert engine._generation_config(greedy.replace(stop_strings=("x",))).num_beams == 1
        assert engine._generation_config(greedy.replace(num_beams=2)).num_beams == 2  # the caller's wins
        beams = [r.token_ids for r in engine.generate(requests(model), greedy.replace(stop_token_ids=()))]
    finally:
        engine.beam_size = 1
    assert beams == [
        r.token_ids for r in engine.generate(requests(model), greedy.replace(num_beams=3, stop_token_ids=()))
    ]
    audio = clip(1.2, 7)
    text = model.transcribe(audio, language="en", beam_size=2).text
    assert isinstance(text, str) and engine.beam_size == 1  # per call, restored afterwards
    with pytest.raises(auricle.errors.ConfigError, match="beam_size"):
        model.transcribe(audio, language="en", beam_size=0)
    with pytest.raises(auricle.errors.ConfigError, match="beam_size"):
        auricle.api.AudioModel.from_model(engine.model, engine.tokenizer, beam_size=0)
