"""SRWT parsing: words and times read from ``<|t|>word<|t|>`` output, and the repairs."""

from __future__ import annotations

import pytest
from test_tasks_fakes import tagged_ids, tokenizer

from auricle.tasks.srwt import join_words, parse_srwt, pieces_from_ids, pieces_from_text, plain_text


def words(text: str, **kw):
    return [(u.kind, u.text, u.start, u.end, u.repaired) for u in parse_srwt(pieces_from_text(text), **kw)]


def test_well_formed_output_is_read_as_written():
    out = words("<|0.00|><|sil|><|0.54|>面<|0.86|>条<|1.17|>机<|1.46|><|sil|><|2.01|>")
    assert out == [
        ("sil", "", 0.0, 0.54, False),
        ("word", "面", 0.54, 0.86, False),
        ("word", "条", 0.86, 1.17, False),
        ("word", "机", 1.17, 1.46, False),
        ("sil", "", 1.46, 2.01, False),
    ]


def test_a_first_word_without_start_time_starts_at_start_time():
    out = words("hello<|0.50|>world<|0.90|>", start_time=0.0)
    assert out == [("word", "hello", 0.0, 0.5, True), ("word", "world", 0.5, 0.9, False)]


def test_missing_time_between_words_is_interpolated_by_characters():
    out = words("<|0.00|>ab<|0.40|>cd efgh<|1.00|>")
    assert out[0] == ("word", "ab", 0.0, 0.4, False)
    # "cd" + "efgh" share 0.40..1.00 in proportion 2:4 characters
    assert out[1][:2] == ("word", "cd") and out[1][2:4] == pytest.approx((0.4, 0.6))
    assert out[2][:2] == ("word", "efgh") and out[2][2:4] == pytest.approx((0.6, 1.0))
    assert out[1][4] and out[2][4]


def test_non_monotonic_time_is_dropped_and_interpolated():
    out = words("<|0.00|>a<|0.50|>b<|9.00|>c<|1.50|>d<|2.00|>")
    starts = [w[2] for w in out]
    ends = [w[3] for w in out]
    assert starts == sorted(starts) and all(s <= e for s, e in zip(starts, ends))
    assert [w[1] for w in out] == ["a", "b", "c", "d"]
    assert out[1][3] == pytest.approx(1.0) and out[1][4] and out[2][4]  # 9.00 dropped, 0.5..1.5 split
    assert not out[0][4] and not out[3][4]


def test_times_past_the_audio_are_clamped_and_flagged():
    out = words("<|0.00|>a<|0.50|>b<|29.00|>", end_time=3.0)
    assert out[1][2:] == (0.5, 3.0, True)


def test_missing_final_time_is_extrapolated_and_clamped():
    out = words("<|0.00|>aa<|0.20|>bb", end_time=10.0)
    assert out[1][2] == 0.2 and out[1][3] == pytest.approx(0.4) and out[1][4]
    out = words("<|0.00|>aa<|0.20|>bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", end_time=1.0)
    assert out[1][3] == 1.0


def test_repeated_timestamps_give_a_gap_between_words():
    out = words("<|0.00|>a<|0.40|><|0.60|>b<|0.90|>")
    assert out == [("word", "a", 0.0, 0.4, False), ("word", "b", 0.6, 0.9, False)]


def test_echoed_tags_are_ignored_and_empty_output_gives_nothing():
    assert words("<|en|><|transcribe|>") == []
    assert words("") == []
    assert [w[1] for w in words("<|0.00|>a<|en|><|0.30|>b<|0.50|>")] == ["a", "b"]


def test_pieces_from_ids_match_pieces_from_text():
    tok = tokenizer()
    text = "<|0.00|>hello<|0.52|> wörld<|1.10|><|sil|><|2.00|>"
    from_ids = pieces_from_ids(tagged_ids(tok, text), tok)
    assert from_ids == pieces_from_text(text)
    assert plain_text(from_ids) == "hello wörld"


def test_join_words_by_language():
    assert join_words(["hello", "world"], "en") == "hello world"
    assert join_words(["面", "条"], "zh") == "面条"
