"""UTF-8 rules: constrained decoding that never leaves a character half written (generate/utf8.py)."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest
import torch
from test_generate import VOCAB, audio_batch, one_thread, v2_model  # noqa: F401 (fixtures)

from auricle.generate import GenerationConfig, generate
from auricle.generate.utf8 import ACCEPT, CONT1, CONT2, REJECT, Utf8Rules, Utf8State

TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "qwen-audio-tokenizer" / "qwen.tiktoken"
SPECIAL = 999


def toy_rules() -> Utf8Rules:
    tokens = [
        b"a",
        b"\xe4",
        b"\xbd",
        b"\xa0",
        b"\xe4\xbd",
        b"\xa0b",
        b"\xff",
        b"\xed\xa0",
        b"\xe4\xbd\xa0",
        b"",
    ]
    return Utf8Rules.from_token_bytes(tokens, special={len(tokens) - 1})


def test_automaton_follows_each_token_from_each_state():
    nxt = toy_rules().next_state
    a, e4, bd, a0, e4bd, a0b, ff, surrogate, ni, special = range(10)
    assert nxt[ACCEPT, a] == ACCEPT and nxt[ACCEPT, ni] == ACCEPT  # "a", "你"
    assert nxt[ACCEPT, e4] == CONT2 and nxt[ACCEPT, e4bd] == CONT1
    assert nxt[CONT2, bd] == CONT1 and nxt[CONT1, a0] == ACCEPT and nxt[CONT1, a0b] == ACCEPT
    assert nxt[ACCEPT, bd] == REJECT  # a continuation byte cannot start a character
    assert nxt[CONT1, a] == REJECT and nxt[CONT2, ni] == REJECT  # nor can a character be cut short
    assert nxt[ACCEPT, ff] == REJECT and nxt[ACCEPT, surrogate] == REJECT  # never valid UTF-8
    # special tokens only between characters
    assert nxt[ACCEPT, special] == ACCEPT and nxt[CONT1, special] == REJECT


def random_walk(rules: Utf8Rules, special: set[int], steps: int, seed: int) -> list[int]:
    """Ids drawn uniformly among those the rules allow, ending between characters."""
    rng = random.Random(seed)
    state = Utf8State(rules, 1, torch.device("cpu"))
    ids = []
    for _ in range(steps):
        allowed = torch.nonzero(state.allowed(rules.vocab)[0]).flatten().tolist()
        tok = rng.choice(allowed)
        ids.append(tok)
        state.update(torch.tensor([tok]))
    while int(state.state) != ACCEPT:  # finish the character the walk is in
        ok = state.allowed(rules.vocab)[0] & ~torch.isin(
            torch.arange(rules.vocab), torch.tensor(sorted(special))
        )
        tok = int(torch.nonzero(ok).flatten()[0])
        ids.append(tok)
        state.update(torch.tensor([tok]))
    return ids


@pytest.mark.skipif(not TIKTOKEN.is_file(), reason=f"{TIKTOKEN} is absent")
def test_any_path_the_rules_allow_is_valid_utf8_in_the_qwen_vocabulary():
    from auricle.tokenizer.qwen_audio import QwenAudioTokenizer

    tok = QwenAudioTokenizer(TIKTOKEN)
    rules = Utf8Rules.for_tokenizer(tok)
    assert rules is Utf8Rules.for_tokenizer(tok)  # built once per tokenizer
    assert rules.vocab == len(tok)
    special = {i for i in range(len(tok)) if tok.is_special(i)}
    ni = tok.encode_text("你好，世界")
    state = Utf8State(rules, 1, torch.device("cpu"))
    for i in ni:  # real text always passes
        assert state.allowed(len(tok))[0, i]
        state.update(torch.tensor([i]))
    assert int(state.state) == ACCEPT
    for seed in range(5):
        ids = random_walk(rules, special, 60, seed)
        text_bytes = b"".join(tok.token_bytes(i) for i in ids if i not in special)
        text_bytes.decode("utf-8")  # strict: raises on any invalid sequence
        assert "\ufffd" not in tok.decode(ids)


def toy_byte_vocab() -> tuple[list[bytes], set[int]]:
    """VOCAB ids for the tiny model: every byte, random multi-byte pieces, then special ids."""
    rng = random.Random(0)
    tokens = [bytes([b]) for b in range(256)]
    while len(tokens) < 900:
        tokens.append(bytes(rng.randrange(256) for _ in range(rng.randint(2, 4))))
    tokens += [f"<|s{i}|>".encode() for i in range(900, VOCAB)]
    return tokens, set(range(900, VOCAB))


def _valid(ids: list[int], tokens: list[bytes], special: set[int], stop: int) -> bool:
    body = ids[:-1] if ids and ids[-1] == stop else ids
    try:
        b"".join(tokens[i] for i in body if i not in special).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("sampled", [False, True])
def test_generation_under_utf8_rules_is_valid_utf8(v2_model, sampled):  # noqa: F811
    """A random model writes broken UTF-8 almost at once; under the rules every stopped output is valid."""
    tokens, special = toy_byte_vocab()
    stop = SPECIAL
    prompts, mel, frames = audio_batch(6)
    cfg = GenerationConfig(max_new_tokens=20, stop_token_ids=(stop,), do_sample=sampled, seed=5)
    free = generate(v2_model, prompts, config=cfg, mel=mel, mel_frames=frames)
    ruled_cfg = cfg.replace(utf8_rules=Utf8Rules.from_token_bytes(tokens, special))
    ruled = generate(v2_model, prompts, config=ruled_cfg, mel=mel, mel_frames=frames)
    assert not all(_valid(r.token_ids, tokens, special, stop) for r in free)
    for r in ruled:
        if r.finish_reason == "stop":
            assert _valid(r.token_ids, tokens, special, stop)
        else:  # a length cut may end inside a character, never on an invalid byte
            body = b"".join(tokens[i] for i in r.token_ids if i not in special)
            codecs.getincrementaldecoder("utf-8")().decode(body, final=False)  # raises on invalid bytes


def test_rules_change_nothing_for_valid_greedy_output(v2_model):  # noqa: F811
    """With every id a whole ASCII character, the rules allow everything: same greedy tokens."""
    tokens = [bytes([32 + i % 90]) for i in range(900)] + [b"<|x|>"] * (VOCAB - 900)
    prompts, mel, frames = audio_batch(4)
    cfg = GenerationConfig(max_new_tokens=16, stop_token_ids=())
    plain = generate(v2_model, prompts, config=cfg, mel=mel, mel_frames=frames)
    ruled = generate(
        v2_model,
        prompts,
        config=cfg.replace(utf8_rules=Utf8Rules.from_token_bytes(tokens, set(range(900, VOCAB)))),
        mel=mel,
        mel_frames=frames,
    )
    assert [r.token_ids for r in plain] == [r.token_ids for r in ruled]
