"""Synthetic corpus text: number words and ITN, parallel grammar agreement, vocabularies, split keys."""

from __future__ import annotations

import re

import numpy as np
import pytest

from auricle.data.synth import lexicon as lx
from auricle.data.synth.backends import available_backends
from auricle.data.synth.grammar import (
    CARRIERS,
    DEFAULT_SENTENCE_MIX,
    LANGUAGES,
    carrier_sentence,
    content_key,
    render_parallel,
    sample_content,
    sample_sentence,
    split_of_key,
)
from auricle.data.synth.numbers import spell_number
from auricle.data.synth.vocab import is_clean
from auricle.errors import ConfigError

# the vocabulary filter asks espeak-ng how it reads each word
needs_espeak = pytest.mark.skipif(not available_backends()["espeak"], reason="espeak-ng not installed")

NUMBERS = {
    21: {
        "en": "twenty one",
        "de": "einundzwanzig",
        "fr": "vingt et un",
        "es": "veintiún",
        "it": "ventuno",
        "zh": "二十一",
        "ja": "にじゅういち",
        "ko": "이십일",
    },
    71: {
        "en": "seventy one",
        "de": "einundsiebzig",
        "fr": "soixante et onze",
        "es": "setenta y un",
        "it": "settantuno",
        "zh": "七十一",
        "ja": "ななじゅういち",
        "ko": "칠십일",
    },
    80: {"fr": "quatre-vingts", "de": "achtzig", "it": "ottanta"},
    98: {"fr": "quatre-vingt-dix-huit", "it": "novantotto", "de": "achtundneunzig"},
    105: {
        "en": "one hundred five",
        "zh": "一百零五",
        "es": "ciento cinco",
        "it": "centocinque",
        "ko": "백오",
    },
    200: {"fr": "deux cents", "es": "doscientos", "zh": "两百", "ja": "にひゃく", "de": "zweihundert"},
    1010: {
        "zh": "一千零一十",
        "de": "tausendzehn",
        "it": "milledieci",
        "fr": "mille dix",
        "ja": "せんじゅう",
    },
    2023: {
        "en": "two thousand twenty three",
        "de": "zweitausenddreiundzwanzig",
        "es": "dos mil veintitrés",
        "it": "duemilaventitré",
        "fr": "deux mille vingt-trois",
        "zh": "两千零二十三",
        "ko": "이천이십삼",
    },
    300: {"ja": "さんびゃく"},
    8000: {"ja": "はっせん"},
    20000: {"zh": "两万", "ko": "이만", "ja": "にまん"},
    101000: {"de": "hunderteintausend", "fr": "cent un mille"},
}


@pytest.mark.parametrize("n", sorted(NUMBERS))
def test_spelled_numbers(n):
    for lang, expected in NUMBERS[n].items():
        joiner = "" if lang in ("zh", "ja", "ko", "de", "it") else " "
        assert joiner.join(spell_number(n, lang)) == expected, (n, lang)


def test_number_agreement_and_range():
    assert spell_number(21, "fr", feminine=True) == ["vingt", "et", "une"]
    assert spell_number(21, "es", feminine=True) == ["veintiuna"]
    assert spell_number(21, "es", counting=False) == ["veintiuno"]
    assert spell_number(300, "es", feminine=True) == ["trescientas"]
    assert spell_number(2, "zh", counting=False) == ["二"]
    with pytest.raises(ConfigError):
        spell_number(10**6, "en")
    with pytest.raises(ConfigError):
        spell_number(3, "xx")


def test_parallel_agreement():
    # "there are 23 white eggs in the garden": Italian uova is feminine plural, French œufs masculine
    content = {
        "template": "there",
        "subj": 0,
        "verb": 0,
        "obj": 8,
        "colour": 4,
        "adj": 0,
        "place": 0,
        "num": 23,
    }
    expected = {
        "en": ("There are twenty three white eggs in the garden.", "There are 23 white eggs in the garden."),
        "de": ("Es gibt dreiundzwanzig weiße Eier im Garten.", "Es gibt 23 weiße Eier im Garten."),
        "fr": ("Il y a vingt-trois œufs blancs dans le jardin.", "Il y a 23 œufs blancs dans le jardin."),
        "es": ("Hay veintitrés huevos blancos en el jardín.", "Hay 23 huevos blancos en el jardín."),
        "it": ("Ci sono ventitré uova bianche nel giardino.", "Ci sono 23 uova bianche nel giardino."),
        "zh": ("花园里有二十三个白色的鸡蛋。", "花园里有23个白色的鸡蛋。"),
    }
    for lang, (text, itn) in expected.items():
        s = render_parallel(content, lang)
        assert (s.text, s.text_itn) == (text, itn)
        assert s.key == content_key(content)
    describe = {
        "template": "describe",
        "subj": 0,
        "verb": 0,
        "obj": 0,
        "colour": 0,
        "adj": 0,
        "place": 0,
        "num": 2,
    }
    assert render_parallel(describe, "de").text == "Der rote Apfel ist groß."
    assert render_parallel(describe, "fr").text == "La pomme rouge est grande."
    assert render_parallel(describe, "es").text == "La manzana roja es grande."
    assert render_parallel(describe, "it").text == "La mela rossa è grande."
    two_hats = {
        "template": "act",
        "subj": 1,
        "verb": 0,
        "obj": 15,
        "colour": 1,
        "adj": 0,
        "place": 0,
        "num": 2,
    }
    assert render_parallel(two_hats, "zh").text == "孩子买两顶蓝色的帽子。"
    assert render_parallel(two_hats, "fr").text == "L'enfant achète deux chapeaux bleus."


def test_lexicon_rows_complete():
    for table in (lx.SUBJECTS, lx.OBJECTS, lx.COLOURS, lx.ADJECTIVES, lx.VERBS, lx.PLACES):
        for row in table:
            assert set(row) == set(lx.PARALLEL_LANGUAGES), row


@needs_espeak
@pytest.mark.parametrize("lang", LANGUAGES)
def test_sentences_words_match_text(lang):
    rng = np.random.default_rng(4)
    for _ in range(20):
        s, _ = sample_sentence(rng, lang)
        joiner = "" if lang in ("zh", "ja") else " "
        assert s.text[:-1] == joiner.join(s.words)
        assert all(w and not re.search(r"\s", w) for w in s.words)
        if "number" in s.facts:
            assert str(s.facts["number"]) in s.text_itn and str(s.facts["number"]) not in s.text


@needs_espeak
def test_carriers_have_number_itn():
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(200):
        s = carrier_sentence(rng, "fr")
        if "number" in s.facts:
            seen += 1
            assert s.text != s.text_itn
    assert seen > 20
    assert all(len(v) >= 6 for v in CARRIERS.values())


@needs_espeak
def test_vocabulary_is_broad_and_clean():
    from auricle.data.synth.vocab import vocabulary

    for lang in ("en", "zh", "de"):
        vocab = vocabulary(lang)
        assert len(vocab) > 5000 and len(set(vocab)) == len(vocab)
        assert all(is_clean(w, lang) for w in vocab[:2000])
    assert not is_clean("fucking", "en") and not is_clean("dc", "en") and not is_clean("x1", "en")
    assert is_clean("garden", "en") and is_clean("苹果", "zh") and not is_clean("apple", "zh")


def test_split_of_key_is_stable_and_proportional():
    keys = [f"k{i}" for i in range(4000)]
    splits = [split_of_key(k, 0.1, 0.1) for k in keys]
    assert splits == [split_of_key(k, 0.1, 0.1) for k in keys]
    assert 0.07 < splits.count("test") / len(keys) < 0.13
    assert 0.07 < splits.count("valid") / len(keys) < 0.13


def test_sample_content_covers_templates():
    rng = np.random.default_rng(1)
    seen = {sample_content(rng)["template"] for _ in range(100)}
    assert seen == {"act", "where", "there", "describe"}


@needs_espeak
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_sentence_mix_default_is_the_builtin_draw_and_restricts_kinds(lang):
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    default = [sample_sentence(a, lang)[0].key for _ in range(300)]
    explicit = [sample_sentence(b, lang, dict(DEFAULT_SENTENCE_MIX))[0].key for _ in range(300)]
    assert default == explicit
    kinds = {k.split("|")[0] for k in default}
    assert kinds == ({"parallel", "carrier", "list"} if lang == "en" else {"carrier", "list"})
    rng = np.random.default_rng(5)
    dense = [sample_sentence(rng, lang, {"carrier": 1, "list": 1})[0].key.split("|")[0] for _ in range(400)]
    assert set(dense) == {"carrier", "list"} and 150 < dense.count("list") < 250
    assert {sample_sentence(rng, lang, {"list": 1})[0].key.split("|")[0] for _ in range(50)} == {"list"}


@needs_espeak
def test_sentence_mix_parallel_weight_goes_to_carriers_without_parallel_templates():
    rng = np.random.default_rng(0)
    assert {sample_sentence(rng, "ja", {"parallel": 1})[0].key.split("|")[0] for _ in range(20)} == {
        "carrier"
    }
    with pytest.raises(ValueError, match="no kind of sentence"):
        sample_sentence(rng, "en", {"list": 0})
