"""The generation engine: batch invariance, parity with transformers' generate and with a no-cache
loop, sampling semantics, stop tokens/strings, streaming. Tiny random models in fp32 on CPU."""

from __future__ import annotations

import base64
import copy
import dataclasses
from pathlib import Path

import pytest
import torch
from reference_models import DEVICES, tiny_qwen2_audio_hf

from auricle.errors import ConfigError, PromptError
from auricle.generate import GenerationConfig, generate, generation_preset, stream, stream_batch
from auricle.generate.sampling import apply_repetition_penalty, top_k_filter, top_p_filter
from auricle.generate.stopping import RowText
from auricle.generate.timestamps import TimestampRules, TimestampState
from auricle.model import AudioLM, preset
from auricle.model.encoder import conv_lengths, pooled_lengths

AUDIO_ID = 990  # <|AUDIO|> inside the tiny vocabulary
VOCAB = 1000
NO_STOP = GenerationConfig(max_new_tokens=24, stop_token_ids=())
TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "qwen-audio-tokenizer" / "qwen.tiktoken"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine OpenMP spinning costs a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_v2_config():
    cfg = preset("tiny-qwen2-audio")
    return cfg.replace(
        text=dataclasses.replace(cfg.text, vocab_size=VOCAB, rms_norm_eps=1e-6), audio_token_id=AUDIO_ID
    )


@pytest.fixture(scope="module")
def v2_model() -> AudioLM:
    torch.manual_seed(0)
    return AudioLM(tiny_v2_config()).eval()


def audio_batch(n_prompts: int, seed: int = 0):
    """Prompts of varied lengths; every other one holds one or two audios (v2 placeholders)."""
    g = torch.Generator().manual_seed(seed)
    prompts, frames = [], []
    for i in range(n_prompts):
        text = torch.randint(1, 900, (3 + (7 * i) % 23,), generator=g).tolist()
        if i % 2:
            ids = text[:2]
            for _ in range(1 + (i % 4 == 3)):
                f = int(torch.randint(40, 160, (1,), generator=g))
                n = int(pooled_lengths(conv_lengths(torch.tensor([f]))))
                ids += [991] + [AUDIO_ID] * n + [992]
                frames.append(f)
            prompts.append(ids + text[2:])
        else:
            prompts.append(text)
    mel = torch.randn(len(frames), 128, max(frames) + 2, generator=g)
    return prompts, mel, torch.tensor(frames)


def audio_rows(prompts: list[list[int]]) -> list[int]:
    """How many audios each prompt holds (runs of AUDIO_ID)."""
    return [
        sum(1 for j, t in enumerate(p) if t == AUDIO_ID and (j == 0 or p[j - 1] != AUDIO_ID)) for p in prompts
    ]


def run_subset(model, prompts, mel, frames, rows, config=NO_STOP):
    """generate() on prompts[rows] with exactly their audios."""
    counts = audio_rows(prompts)
    first = [sum(counts[:r]) for r in range(len(prompts))]
    audio_idx = [first[r] + k for r in rows for k in range(counts[r])]
    sub_mel = mel[audio_idx] if audio_idx else None
    sub_frames = frames[audio_idx] if audio_idx else None
    return generate(model, [prompts[r] for r in rows], mel=sub_mel, mel_frames=sub_frames, config=config)


@pytest.mark.parametrize("device", DEVICES)
def test_batch_invariance_bs1_bs8_bs16(v2_model, device):
    v2_model = copy.deepcopy(v2_model).to(device)
    prompts, mel, frames = audio_batch(16)
    full = [r.token_ids for r in run_subset(v2_model, prompts, mel, frames, list(range(16)))]
    halves = [
        r.token_ids
        for h in (range(0, 8), range(8, 16))
        for r in run_subset(v2_model, prompts, mel, frames, list(h))
    ]
    alone = [run_subset(v2_model, prompts, mel, frames, [i])[0].token_ids for i in range(16)]
    assert all(len(t) == 24 for t in full)
    assert full == halves == alone
    assert len({tuple(t) for t in full}) == 16  # the rows really differ


def test_matches_no_cache_loop(v2_model):
    prompts, mel, frames = audio_batch(4, seed=1)
    got = run_subset(v2_model, prompts, mel, frames, [0, 1, 2, 3], NO_STOP.replace(max_new_tokens=12))
    counts = audio_rows(prompts)
    for r, p in enumerate(prompts):
        a = sum(counts[:r])
        kw = dict(mel=mel[a : a + counts[r]], mel_frames=frames[a : a + counts[r]]) if counts[r] else {}
        ids = list(p)
        with torch.inference_mode():
            for _ in range(12):
                ids.append(int(v2_model(torch.tensor([ids]), **kw)[0, -1].argmax()))
        assert got[r].token_ids == ids[len(p) :]
        assert got[r].finish_reason == "length" and got[r].prompt_tokens == len(p)


@pytest.mark.parametrize("device", DEVICES)
def test_matches_transformers_generate(device):
    pytest.importorskip("transformers")
    hf, ours = (m.to(device) for m in _hf_and_ours())
    frames = torch.tensor([93, 140, 57], device=device)
    feats = torch.randn(3, 128, 3000, generator=torch.Generator().manual_seed(0)).to(device) * 0.5
    # (the reference wants 30 s; ours reads what it needs)
    n = pooled_lengths(conv_lengths(frames)).tolist()
    rows = [
        [11, 12, 991] + [AUDIO_ID] * n[0] + [992, 5, 6],
        [3, 991] + [AUDIO_ID] * n[1] + [992, 7, 8, 9, 10, 11, 12, 13],
        [4, 991] + [AUDIO_ID] * n[2] + [992],
    ]

    def reference(idx: list[int], **kw) -> list[list[int]]:
        width = max(len(rows[i]) for i in idx)
        ids = torch.tensor([[0] * (width - len(rows[i])) + rows[i] for i in idx], device=device)
        att = torch.tensor([[0] * (width - len(rows[i])) + [1] * len(rows[i]) for i in idx], device=device)
        with torch.inference_mode():
            out = hf.generate(
                input_ids=ids,
                attention_mask=att,
                input_features=feats[idx],
                feature_attention_mask=(torch.arange(3000, device=device)[None] < frames[idx, None]).long(),
                do_sample=False,
                max_new_tokens=20,
                pad_token_id=0,
                eos_token_id=None,
                **kw,
            )
        return out[:, width:].tolist()

    cfg = GenerationConfig(max_new_tokens=20, stop_token_ids=())
    for idx in ([0], [0, 1, 2]):
        got = generate(ours, [rows[i] for i in idx], mel=feats[idx], mel_frames=frames[idx], config=cfg)
        assert [r.token_ids for r in got] == reference(idx)
    # repetition penalty (one unpadded row: transformers also penalises the pad ids of a batch)
    got = generate(
        ours, rows[:1], mel=feats[:1], mel_frames=frames[:1], config=cfg.replace(repetition_penalty=1.7)
    )
    assert [got[0].token_ids] == reference([0], repetition_penalty=1.7)
    assert [got[0].token_ids] != reference([0])


def _hf_and_ours():
    from auricle.checkpoint.keymap import QWEN2_AUDIO_RUNTIME, convert

    hf = tiny_qwen2_audio_hf(AUDIO_ID, vocab=VOCAB, seed=3)
    ours = AudioLM(tiny_v2_config())
    state, unmatched = convert(hf.state_dict(), QWEN2_AUDIO_RUNTIME)
    assert not unmatched
    ours.load_state_dict(state)
    return hf, ours.eval()


@pytest.mark.parametrize("device", DEVICES)
def test_beam_search_matches_transformers(device):
    """Same weights, same beams: stop ids chosen among the tokens the model likes, so hypotheses
    finish at different steps; one and two stop ids; length penalties 0, 1, 2; min_new_tokens."""
    pytest.importorskip("transformers")
    hf, ours = (m.to(device) for m in _hf_and_ours())
    frames = torch.tensor([93, 140, 57], device=device)
    feats = torch.randn(3, 128, 3000, generator=torch.Generator().manual_seed(1)).to(device) * 0.5
    n = pooled_lengths(conv_lengths(frames)).tolist()
    rows = [
        [11, 12, 991] + [AUDIO_ID] * n[0] + [992, 5, 6],
        [3, 991] + [AUDIO_ID] * n[1] + [992, 7, 8, 9, 10, 11, 12, 13],
        [4, 991] + [AUDIO_ID] * n[2] + [992],
    ]
    att = torch.tensor([[0] * (len(rows[1]) - len(r)) + [1] * len(r) for r in rows], device=device)
    ids = torch.tensor([[0] * (len(rows[1]) - len(r)) + r for r in rows], device=device)
    greedy = generate(ours, rows, mel=feats, mel_frames=frames, config=NO_STOP.replace(max_new_tokens=16))
    stop_sets = ([greedy[0].token_ids[3]], [greedy[1].token_ids[5], greedy[2].token_ids[2]])
    cases = [(s, k, lp, 0) for s in stop_sets for k, lp in ((2, 1.0), (4, 0.0), (4, 2.0))]
    cases.append((stop_sets[1], 3, 1.0, 4))
    finished_early = 0
    for stops, beams, penalty, min_new in cases:
        with torch.inference_mode():
            ref = hf.generate(
                input_ids=ids,
                attention_mask=att,
                input_features=feats,
                feature_attention_mask=(torch.arange(3000, device=device)[None] < frames[:, None]).long(),
                do_sample=False,
                num_beams=beams,
                length_penalty=penalty,
                min_new_tokens=min_new,
                max_new_tokens=16,
                pad_token_id=0,
                eos_token_id=stops,
            )[:, ids.shape[1] :].tolist()
        cfg = GenerationConfig(
            max_new_tokens=16,
            stop_token_ids=tuple(stops),
            num_beams=beams,
            length_penalty=penalty,
            min_new_tokens=min_new,
        )
        got = generate(ours, rows, mel=feats, mel_frames=frames, config=cfg)
        for res, expect in zip(got, ref):
            tokens = res.token_ids
            # transformers pads a finished row with its first stop id
            assert tokens == expect[: len(tokens)] and set(expect[len(tokens) :]) <= {stops[0]}
            assert res.finish_reason == ("stop" if tokens[-1] in stops else "length")
            assert len(tokens) >= min_new
            finished_early += len(tokens) < 16
    assert finished_early >= 5  # the stop ids really ended hypotheses
    assert [r.token_ids for r in generate(ours, rows, mel=feats, mel_frames=frames, config=cfg)] != [
        r.token_ids
        for r in generate(ours, rows, mel=feats, mel_frames=frames, config=cfg.replace(num_beams=1))
    ]  # and beams are not greedy


def test_beam_search_is_batch_invariant_and_checked(v2_model):
    prompts, mel, frames = audio_batch(6, seed=2)
    greedy = run_subset(v2_model, prompts, mel, frames, list(range(6)))
    stops = tuple(r.token_ids[1 + 3 * i] for i, r in enumerate(greedy))  # a random model's likely ids
    cfg = NO_STOP.replace(stop_token_ids=stops, num_beams=3)
    full = run_subset(v2_model, prompts, mel, frames, list(range(6)), cfg)
    alone = [run_subset(v2_model, prompts, mel, frames, [i], cfg)[0] for i in range(6)]
    assert [r.token_ids for r in full] == [r.token_ids for r in alone]
    assert len({len(r.token_ids) for r in full}) > 1  # prompts finished at different steps
    text = generate(v2_model, [prompts[0]], config=cfg, decode_fn=toy_decode)[0]
    assert text.text == toy_decode(text.token_ids[:-1] if text.finish_reason == "stop" else text.token_ids)
    with pytest.raises(ConfigError, match="do_sample"):
        GenerationConfig(num_beams=2, do_sample=True)
    with pytest.raises(ConfigError, match="stop_strings"):
        GenerationConfig(num_beams=2, stop_strings=("x",))
    with pytest.raises(ConfigError, match="num_beams"):
        GenerationConfig(num_beams=0)
    with pytest.raises(ConfigError, match="cannot stream"):
        stream_batch(v2_model, [[1]], config=cfg, decode_fn=toy_decode)


def test_v1_dynamic_ntk_alpha_is_frozen_at_prefill():
    """v1 with a tiny NTK pivot: the alpha of the prompt is reused at every step (not recomputed)."""
    torch.manual_seed(4)
    cfg = preset("tiny-qwen-audio")
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, seq_length=16))
    model = AudioLM(cfg).eval()
    mel = torch.randn(1, 80, 130)
    frames = torch.tensor([120])  # 120 frames -> 30 audio tokens + learned bos/eos
    span = [cfg.audio_start_id] + [151851] * 30 + [cfg.audio_end_id]
    prompts = [[5, 6] + span + [7, 8], [9, 10, 11, 12, 13], list(range(100, 125))]
    config = GenerationConfig(max_new_tokens=16, stop_token_ids=(), vocab_limit=151643)
    batch = generate(model, prompts, mel=mel, mel_frames=frames, config=config)
    for r, p in enumerate(prompts):
        kw = dict(mel=mel, mel_frames=frames) if r == 0 else {}
        alone = generate(model, [p], config=config, **kw)[0].token_ids
        assert batch[r].token_ids == alone
        alpha = model.text.ntk_alpha(torch.tensor([len(p)]))
        ids = list(p)
        with torch.inference_mode():
            for _ in range(16):
                logits = model(torch.tensor([ids]), ntk_alpha=alpha, last_only=True, **kw)[0, -1, :151643]
                ids.append(int(logits.argmax()))
            frozen = model(torch.tensor([ids]), ntk_alpha=alpha, last_only=True, **kw)[0, -1]
            fresh = model(torch.tensor([ids]), last_only=True, **kw)[0, -1]
        assert alone == ids[len(p) :]
        if r == 2:  # 25 -> 41 tokens crosses 32: a recomputed alpha (3 -> 7) would change the logits
            assert alpha.tolist() == [3.0] and not torch.allclose(fresh, frozen, rtol=1e-3, atol=1e-3)


def test_sampling_filters_match_transformers_processors():
    tp = pytest.importorskip("transformers.generation.logits_process")
    torch.manual_seed(5)
    logits = torch.randn(4, 50) * 3
    ids = torch.randint(0, 50, (4, 7))
    for k in (1, 5, 50, 80):
        assert torch.equal(top_k_filter(logits, k), tp.TopKLogitsWarper(k)(ids, logits))
    for p in (0.01, 0.3, 0.9, 0.999):
        assert torch.equal(top_p_filter(logits, p), tp.TopPLogitsWarper(p)(ids, logits))
    seen = torch.zeros(4, 50, dtype=torch.bool).scatter_(1, ids, True)
    for pen in (0.8, 1.3):
        ref = tp.RepetitionPenaltyLogitsProcessor(pen)(ids, logits.clone())
        assert torch.allclose(apply_repetition_penalty(logits, seen, pen), ref)


def test_seeded_sampling(v2_model):
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9]]
    sampled = NO_STOP.replace(do_sample=True, temperature=1.5, top_p=0.95, top_k=50, seed=7)
    a = [r.token_ids for r in generate(v2_model, prompts, config=sampled)]
    b = [r.token_ids for r in generate(v2_model, prompts, config=sampled)]
    c = [r.token_ids for r in generate(v2_model, prompts, config=sampled.replace(seed=8))]
    greedy = [r.token_ids for r in generate(v2_model, prompts, config=NO_STOP)]
    assert a == b and a != c and a != greedy
    for narrow in (dict(top_k=1), dict(top_p=1e-6)):
        s = NO_STOP.replace(do_sample=True, temperature=2.0, seed=1, **narrow)
        assert [r.token_ids for r in generate(v2_model, prompts, config=s)] == greedy


def test_stop_tokens_min_new_tokens_and_dropping_rows(v2_model):
    prompts, mel, frames = audio_batch(6, seed=2)
    free = [r.token_ids for r in run_subset(v2_model, prompts, mel, frames, list(range(6)))]
    stop = free[0][5]
    rows = list(range(6))
    dropped = run_subset(v2_model, prompts, mel, frames, rows, NO_STOP.replace(stop_token_ids=(stop,)))
    kept = run_subset(
        v2_model, prompts, mel, frames, rows, NO_STOP.replace(stop_token_ids=(stop,), drop_finished=False)
    )
    assert dropped == kept
    for r, res in enumerate(dropped):
        if stop in free[r]:
            cut = free[r].index(stop) + 1
            assert res.token_ids == free[r][:cut] and res.finish_reason == "stop" and res.stop == stop
        else:
            assert res.token_ids == free[r] and res.finish_reason == "length" and res.stop is None
    assert dropped[0].finish_reason == "stop"
    # min_new_tokens: the stop id cannot be produced earlier
    late = generate(v2_model, prompts[:1], config=NO_STOP.replace(stop_token_ids=(stop,), min_new_tokens=8))
    assert stop not in late[0].token_ids[:8] and len(late[0].token_ids) >= 8
    # the model's own eos ids are the default stop set
    assert (
        generate(v2_model, prompts[:1], config=GenerationConfig(max_new_tokens=3))[0].finish_reason
        == "length"
    )


def toy_decode(ids: list[int]) -> str:
    """A byte-level toy vocabulary: id -> 1 byte; ids >= 600 give halves of two-byte characters."""
    out = bytearray()
    for t in ids:
        if t >= 600:
            ch = chr(0x100 + t % 200).encode()  # 2 bytes in UTF-8
            out += ch[:1] if t % 2 else ch[1:]
        else:
            out.append(32 + t % 90)
    return out.decode("utf-8", errors="replace")


def test_stop_strings_cut_text(v2_model):
    prompt = [[11, 12, 13, 14]]
    free = generate(v2_model, prompt, config=NO_STOP, decode_fn=toy_decode)[0]
    text = toy_decode(free.token_ids)
    assert free.text == text
    stop = text[6:9]
    res = generate(
        v2_model, prompt, config=NO_STOP.replace(stop_strings=(stop, "never")), decode_fn=toy_decode
    )[0]
    first = text.find(stop)
    assert res.finish_reason == "stop" and res.stop == stop and res.text == text[:first]
    assert stop in toy_decode(res.token_ids) and stop not in toy_decode(res.token_ids[:-1])
    with pytest.raises(ConfigError, match="decode_fn"):
        generate(v2_model, prompt, config=NO_STOP.replace(stop_strings=("x",)))


def test_vocab_limit(v2_model):
    res = generate(v2_model, [[1, 2, 3]], config=NO_STOP.replace(vocab_limit=300))[0]
    ids = [1, 2, 3]
    with torch.inference_mode():
        for _ in range(24):
            ids.append(int(v2_model(torch.tensor([ids]))[0, -1, :300].argmax()))
    assert res.token_ids == ids[3:] and max(res.token_ids) < 300


def test_stream_deltas_concatenate_to_text(v2_model):
    # ids >= 600 are half characters: force many of them through a high-vocab prompt and sampling
    cfg = NO_STOP.replace(max_new_tokens=40, do_sample=True, temperature=3.0, seed=3)
    prompt = [601, 602, 700, 5]
    deltas = list(stream(v2_model, prompt, config=cfg, decode_fn=toy_decode))
    result = generate(v2_model, [prompt], config=cfg, decode_fn=toy_decode)[0]
    assert "".join(deltas) == result.text == toy_decode(result.token_ids)
    assert sum(t >= 600 for t in result.token_ids) >= 5
    if "\ufffd" not in result.text:
        assert not any("\ufffd" in d for d in deltas)
    # a batch stream: per-row deltas concatenate to each row's text; the last event has the result
    prompts = [[1, 2, 3], [601, 7], [9] * 12]
    stop = toy_decode(result.token_ids[10:12])
    bcfg = cfg.replace(stop_strings=(stop,))
    texts, finals = ["", "", ""], [None, None, None]
    for ev in stream_batch(v2_model, prompts, config=bcfg, decode_fn=toy_decode):
        assert finals[ev.row] is None
        texts[ev.row] += ev.delta
        finals[ev.row] = ev.result
    expect = generate(v2_model, prompts, config=bcfg, decode_fn=toy_decode)
    assert finals == expect and texts == [r.text for r in expect]


@pytest.mark.skipif(not TIKTOKEN.is_file(), reason=f"real v1 vocabulary not found at {TIKTOKEN}")
def test_stream_with_real_v1_vocabulary():
    import tiktoken

    ranks = {}
    for line in TIKTOKEN.read_bytes().splitlines():
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding("qwen-test", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})

    def decode(ids: list[int]) -> str:
        return enc.decode_bytes(ids).decode("utf-8", errors="replace")

    torch.manual_seed(6)
    model = AudioLM(preset("tiny-qwen-audio")).eval()
    prompt = enc.encode("音频里说的是什么？ Qu'est-ce que c'est ?")
    cfg = GenerationConfig(
        max_new_tokens=48, do_sample=True, temperature=1.5, seed=2, stop_token_ids=(), vocab_limit=len(ranks)
    )
    deltas = list(stream(model, prompt, config=cfg, decode_fn=decode))
    result = generate(model, [prompt], config=cfg, decode_fn=decode)[0]
    assert "".join(deltas) == result.text == decode(result.token_ids)


def test_row_text_holds_back_split_characters_and_stop_prefixes():
    vocab = {1: b"a", 2: "é".encode()[:1], 3: "é".encode()[1:], 4: b"<", 5: b"/", 6: b"x", 7: b">"}

    def dec(ids: list[int]) -> str:
        return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")

    t = RowText(dec, stop_strings=["</s>"])
    assert not t.push(1) and t.take_delta() == "a"
    assert not t.push(2) and t.take_delta() == ""  # half of é
    assert not t.push(3) and t.take_delta() == "é"
    assert not t.push(4) and t.take_delta() == ""  # "<" may start "</s>"
    assert not t.push(5) and t.take_delta() == ""
    assert not t.push(6) and t.take_delta() == "</x"  # no longer a prefix
    t2 = RowText(dec, stop_strings=["/x>"])
    for i in (1, 5, 6):
        assert not t2.push(i)
    assert t2.push(7) and t2.stop_at == 1


def test_bad_input_is_reported(v2_model):
    with pytest.raises(PromptError, match="empty batch"):
        generate(v2_model, [])
    with pytest.raises(PromptError, match="prompt 1 is empty"):
        generate(v2_model, [[1], []])
    with pytest.raises(PromptError, match="valid ids are 0..999"):
        generate(v2_model, [[1, 5000]])
    for bad in (dict(max_new_tokens=0), dict(temperature=0), dict(top_p=0), dict(min_new_tokens=300)):
        with pytest.raises(ConfigError):
            GenerationConfig(**bad)
    with pytest.raises(ConfigError, match="available"):
        generation_preset("nope")
    assert generation_preset("qwen-audio-chat").stop_token_ids == (151643, 151645, 151644)
    with pytest.raises(ConfigError, match="decode_fn"):
        stream_batch(v2_model, [[1]], decode_fn=None)  # raised at the call, before iterating
    v2_model.train()
    generate(v2_model, [[1, 2]], config=NO_STOP.replace(max_new_tokens=2))
    assert v2_model.training  # restored after generation (which ran in eval mode)
    v2_model.eval()


@pytest.mark.slow
def test_compiled_decode_gives_the_same_tokens(v2_model):
    prompts, mel, frames = audio_batch(4, seed=5)
    eager = run_subset(v2_model, prompts, mel, frames, [0, 1, 2, 3])
    stop = eager[1].token_ids[4]  # some rows stop early: the batch shrinks while compiled
    cfg = NO_STOP.replace(stop_token_ids=(stop,))
    eager = run_subset(v2_model, prompts, mel, frames, [0, 1, 2, 3], cfg)
    compiled = run_subset(v2_model, prompts, mel, frames, [0, 1, 2, 3], cfg.replace(compile_decode=True))
    assert compiled == eager and eager[1].finish_reason == "stop"


# ------------------------------------------------------------------------------ timestamp rules
TS0, SIL, STOP = 600, 950, 951  # in the tiny vocabulary: <|0.00|> .. <|2.99|> = 600 .. 899


def tiny_rules(mode: str) -> TimestampRules:
    return TimestampRules(mode, tuple(range(TS0, TS0 + 300)), frozenset(range(TS0, VOCAB)), sil_id=SIL)


def allowed_ids(state: TimestampState) -> set[int]:
    return set(torch.nonzero(state.allowed()[0]).flatten().tolist())


def test_event_rules_follow_the_timed_label_format():
    state = TimestampState(tiny_rules("events"), VOCAB, {STOP}, 1, torch.device("cpu"))
    text, every_ts = set(range(TS0)), set(range(TS0, TS0 + 300))
    assert allowed_ids(state) == text | every_ts | {STOP}  # a timed event, an untimed label, or nothing
    state.update(torch.tensor([TS0 + 50]))  # <|0.50|> opens an event: its label must follow
    assert allowed_ids(state) == text
    state.update(torch.tensor([7]))
    assert allowed_ids(state) == text | set(range(TS0 + 50, TS0 + 300)) | {STOP}  # never back in time
    state.update(torch.tensor([TS0 + 80]))  # closed: another event (from 0.80 s) or the end
    assert allowed_ids(state) == set(range(TS0 + 80, TS0 + 300)) | {STOP}

    untimed = TimestampState(tiny_rules("events"), VOCAB, {STOP}, 1, torch.device("cpu"))
    untimed.update(torch.tensor([7]))
    assert allowed_ids(untimed) == text | {STOP}


def test_word_rules_follow_the_srwt_format():
    state = TimestampState(tiny_rules("words"), VOCAB, {STOP}, 1, torch.device("cpu"))
    text = set(range(TS0))
    assert allowed_ids(state) == text | {SIL, STOP}  # after the prompt's <|0.00|>
    state.update(torch.tensor([SIL]))
    assert allowed_ids(state) == set(range(TS0, TS0 + 300))
    state.update(torch.tensor([TS0 + 40]))
    state.update(torch.tensor([9]))
    assert allowed_ids(state) == text | set(range(TS0, TS0 + 300)) | {STOP}  # order is the parser's job
    state.update(torch.tensor([TS0 + 70]))
    assert allowed_ids(state) == text | {SIL, STOP}


def test_timestamp_refinement_takes_the_local_expected_time():
    """A chosen timestamp moves to the mean time of the distribution within the window (times the
    rules forbid excluded); text ids and a window of 0 leave the greedy choice alone."""
    state = TimestampState(tiny_rules("events"), VOCAB, {STOP}, 3, torch.device("cpu"))
    scores = torch.full((3, VOCAB), -30.0)
    scores[0, TS0 + 100] = 0.0  # peak at 1.00 s, and as much mass over 1.08 .. 1.12 s
    scores[0, TS0 + 108 : TS0 + 113] = float(torch.log(torch.tensor(0.2)))
    scores[1, 5] = 1.0  # a text id: unchanged
    scores[2, TS0 + 150] = 0.0  # peak at 1.50 s; mass 0.40 s away lies outside a 30 cs window
    scores[2, TS0 + 190] = 0.0
    greedy_ids = scores.argmax(-1)
    assert greedy_ids.tolist() == [TS0 + 100, 5, TS0 + 150]
    assert state.refine(scores, greedy_ids, 30).tolist() == [TS0 + 105, 5, TS0 + 150]
    assert state.refine(scores, greedy_ids, 0).tolist() == greedy_ids.tolist()
    assert state.refine(scores, greedy_ids, 50).tolist() == [TS0 + 105, 5, TS0 + 170]
    wide = torch.full((1, VOCAB), -30.0)
    wide[0, TS0] = 0.0  # at the first timestamp the window is cut, not wrapped
    wide[0, TS0 + 299] = 0.0
    assert state.refine(wide, wide.argmax(-1), 10).tolist() == [TS0]
    scores[0, TS0 + 105] = float("-inf")  # a time the rules forbid is never chosen
    assert state.refine(scores, greedy_ids, 30).tolist()[0] == TS0 + 100


def test_timestamp_window_changes_only_timestamps_and_is_validated(v2_model):
    prompts, mel, frames = audio_batch(4)
    cfg = GenerationConfig(max_new_tokens=12, stop_token_ids=(STOP,), timestamp_rules=tiny_rules("words"))
    with torch.no_grad():
        v2_model.lm_head.weight[TS0 : STOP + 1] *= 3.0
    try:
        plain = generate(v2_model, prompts, config=cfg, mel=mel, mel_frames=frames)
        refined = generate(
            v2_model, prompts, config=cfg.replace(timestamp_window=30), mel=mel, mel_frames=frames
        )
    finally:
        with torch.no_grad():
            v2_model.lm_head.weight[TS0 : STOP + 1] /= 3.0
    moved = 0
    for a, b in zip(plain, refined):
        first = next((k for k, (x, y) in enumerate(zip(a.token_ids, b.token_ids)) if x != y), None)
        if first is not None:  # the first difference is a timestamp moved within the window
            x, y = a.token_ids[first], b.token_ids[first]
            assert TS0 <= x < TS0 + 300 and TS0 <= y < TS0 + 300 and abs(x - y) <= 30
            moved += 1
    assert moved > 0
    with pytest.raises(ConfigError, match="timestamp_window"):
        GenerationConfig(timestamp_window=-1)


def _well_formed_events(ids: list[int]) -> bool:
    """<|s|>text+<|e|> per event with non-decreasing times (or untimed text), then the stop id; the
    last label may be left open (the end token is never forbidden inside text)."""
    body = ids[:-1] if ids and ids[-1] == STOP else ids
    if STOP in body or any(TS0 + 300 <= t < VOCAB for t in body):
        return False
    times = [t for t in body if t >= TS0]
    if not times:
        return True
    if times != sorted(times) or body[0] < TS0:
        return False
    k, events = 0, 0
    while k < len(body):  # strict alternation: timestamp, one or more text ids, timestamp
        if body[k] < TS0 or k + 1 >= len(body) or body[k + 1] >= TS0:
            return ids[-1] != STOP and k + 1 >= len(body)  # only a length cut may end mid-event
        k += 1
        while k < len(body) and body[k] < TS0:
            k += 1
        if k == len(body):
            return True
        k += 1
        events += 1
    return events > 0


@pytest.mark.parametrize("mode", ["greedy", "sampled", "beams"])
def test_generation_under_event_rules_is_well_formed(v2_model, mode):
    """A random model breaks the format almost at once; under the rules every output keeps it."""
    torch.manual_seed(1)
    with torch.no_grad():  # make the random model like timestamps and the stop token
        v2_model.lm_head.weight[TS0 : STOP + 1] *= 3.0
    try:
        prompts, mel, frames = audio_batch(6)
        cfg = GenerationConfig(
            max_new_tokens=20,
            stop_token_ids=(STOP,),
            do_sample=mode == "sampled",
            seed=3,
            num_beams=3 if mode == "beams" else 1,
        )
        free = generate(v2_model, prompts, config=cfg, mel=mel, mel_frames=frames)
        rules = cfg.replace(timestamp_rules=tiny_rules("events"))
        ruled = generate(v2_model, prompts, config=rules, mel=mel, mel_frames=frames)
    finally:
        with torch.no_grad():
            v2_model.lm_head.weight[TS0 : STOP + 1] /= 3.0
    assert not all(_well_formed_events(r.token_ids) for r in free)
    assert all(_well_formed_events(r.token_ids) for r in ruled)
