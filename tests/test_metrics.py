"""Evaluation metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from auricle.eval.metrics import (
    TimedWord,
    accuracy,
    bleu,
    bleu_tokenizer,
    cider_d,
    edit_counts,
    edit_distance,
    error_rate,
    normalize,
    remove_special,
    word_shift_ms,
)


def test_remove_special_matches_official_rule():
    assert remove_special("<|en|>hello ,  world<|endoftext|> !") == "hello, world!"


def test_wer_counts_substitutions_insertions_deletions():
    assert edit_distance("a b c".split(), "a x c d".split()) == 2
    assert error_rate(["the cat sat"], ["The cat, sat!"]) == 0.0
    assert error_rate(["the cat sat", "a b"], ["the dog sat", "a"]) == pytest.approx(2 / 5)


def test_chinese_is_scored_per_character():
    assert error_rate(["面条机"], ["面条鸡"], language="zh") == pytest.approx(1 / 3)


def test_edit_counts_are_one_utterances_share_of_the_error_rate():
    refs, hyps = ["The cat sat.", "公园里有帽子", "a b"], ["the cat", "公园有帽子", "a b c d"]
    counts = [edit_counts(r, h) for r, h in zip(refs, hyps)]
    assert counts == [(1, 3), (1, 6), (2, 2)]
    assert error_rate(refs, hyps) == pytest.approx(4 / 11)
    assert [bleu_tokenizer(t) for t in ("zh", "ja", "de", None)] == ["zh", "ja-mecab", "13a", "13a"]


def test_bleu_perfect_and_zero():
    assert bleu(["the cat is on the mat"], ["the cat is on the mat"]) == pytest.approx(100.0)
    assert bleu(["the cat is on the mat"], ["zzz yyy"]) < 1.0
    assert bleu(["我爱你们大家"], ["我爱你们大家"], target_language="zh") == pytest.approx(100.0)


def test_accuracy_is_case_and_space_insensitive():
    assert accuracy(["Street", "park"], [" street", "office"]) == 0.5


def test_word_shift_aligns_by_text():
    ref = [TimedWord("hello", 0.0, 0.5), TimedWord("big", 0.6, 0.9), TimedWord("world", 1.0, 1.5)]
    hyp = [TimedWord("hello", 0.02, 0.52), TimedWord("world", 1.1, 1.5)]
    shift, n = word_shift_ms(ref, hyp)
    assert n == 2
    assert shift == pytest.approx((20.0 + 50.0) / 2)
    assert math.isnan(word_shift_ms(ref, [])[0])


def test_cider_d_orders_candidates_sensibly():
    refs = [
        ["a dog barks twice in a park", "a dog is barking outside"],
        ["rain falls on a tin roof", "heavy rain on a roof"],
        ["a siren passes by on the street", "an ambulance siren on a street"],
    ]
    good = ["a dog barks in a park", "rain falls on a roof", "a siren on the street"]
    bad = ["music plays", "a man speaks", "birds sing"]
    assert cider_d(refs, good) > 1.0 > cider_d(refs, bad)
    assert cider_d(refs, bad) == pytest.approx(0.0, abs=1e-9)


def test_normalize_strips_tags_and_punctuation():
    assert normalize("<|0.00|>Hello,<|0.50|> World!") == "hello world"
