"""Sentence grammars: parallel templates (for translation) and carrier phrases over a broad vocabulary.

A :class:`Sentence` keeps its word tokens (what is synthesised, one call per token), the text
in spoken form and with inverse text normalisation (numbers as digits), a language-independent
``key`` (the same content in every language has the same key; the train/valid/test split of a
sentence is a function of it) and ``facts`` (what it mentions, for question answering).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auricle.data.synth import lexicon as lx
from auricle.data.synth.numbers import spell_number
from auricle.data.synth.vocab import vocabulary

LANGUAGES = ("en", "zh", "de", "fr", "es", "it", "ja", "ko")
NO_SPACE_LANGUAGES = ("zh", "ja")  # written without spaces between words
LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Mandarin Chinese",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
}


@dataclass
class Sentence:
    """One sentence in one language with its spoken and written forms."""

    language: str
    words: list[str]
    text: str
    text_itn: str
    key: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Token:
    spoken: list[str]  # one or more word tokens
    itn: str  # written form with digits


def split_of_key(key: str, valid: float, test: float) -> str:
    """Deterministic split of a content key: ``test`` and ``valid`` are fractions of the key space."""
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") / 2**64
    return "test" if h < test else "valid" if h < test + valid else "train"


def _finish(language: str, tokens: list[_Token], key: str, facts: dict[str, Any]) -> Sentence:
    words = [w for t in tokens for w in t.spoken]
    if words and words[0][:1].isalpha() and words[0][:1].islower():
        words[0] = words[0][0].upper() + words[0][1:]
        first = tokens[0]
        first.spoken = [words[0]] + first.spoken[1:]
        if first.itn[:1].islower():
            first.itn = first.itn[0].upper() + first.itn[1:]
    joiner = "" if language in NO_SPACE_LANGUAGES else " "
    end = "。" if language in NO_SPACE_LANGUAGES else "."
    text = joiner.join(words) + end
    text_itn = joiner.join(t.itn for t in tokens) + end
    return Sentence(language, words, text, text_itn, key, facts)


def _number_token(n: int, language: str, feminine: bool = False, counting: bool = True) -> _Token:
    return _Token(spell_number(n, language, feminine=feminine, counting=counting), str(n))


def _expand(template: str, language: str, slots: dict[str, _Token]) -> list[_Token]:
    """Template tokens split on spaces; a token may be one slot ``{x}`` or slot + literal (``{n}个``)."""
    out = []
    for part in template.split():
        names = re.findall(r"\{(\w+)\}", part)
        if not names:
            out.append(_Token([part], part))
        elif part == "{" + names[0] + "}":
            out.append(slots[names[0]])
        else:  # glue a one-word slot to its literal neighbours
            spoken, itn = part, part
            for name in names:
                tok = slots[name]
                spoken = spoken.replace("{" + name + "}", "".join(tok.spoken))
                itn = itn.replace("{" + name + "}", tok.itn)
            out.append(_Token([spoken], itn))
    return out


def _words(phrase: str) -> _Token:
    return _Token(phrase.split(), phrase)


# ---- parallel templates ------------------------------------------------------------------------

PARALLEL_TEMPLATES = {
    "act": {
        "en": "{subj} {verb} {num} {colour} {obj}",
        "de": "{subj} {verb} {num} {colour} {obj}",
        "fr": "{subj} {verb} {num} {obj} {colour}",
        "es": "{subj} {verb} {num} {obj} {colour}",
        "it": "{subj} {verb} {num} {obj} {colour}",
        "zh": "{subj} {verb} {num}{mw} {colour}的 {obj}",
    },
    "where": {
        "en": "{subj} is {place}",
        "de": "{subj} ist {place}",
        "fr": "{subj} est {place}",
        "es": "{subj} está {place}",
        "it": "{subj} è {place}",
        "zh": "{subj} 在{place}",
    },
    "there": {
        "en": "there are {num} {colour} {obj} {place}",
        "de": "es gibt {num} {colour} {obj} {place}",
        "fr": "il y a {num} {obj} {colour} {place}",
        "es": "hay {num} {obj} {colour} {place}",
        "it": "ci sono {num} {obj} {colour} {place}",
        "zh": "{place}有 {num}{mw} {colour}的 {obj}",
    },
    "describe": {
        "en": "the {colour} {obj} is {adj}",
        "de": "{art} {colour} {obj} ist {adj}",
        "fr": "{obj} {colour} est {adj}",
        "es": "{obj} {colour} es {adj}",
        "it": "{obj} {colour} è {adj}",
        "zh": "{colour}的 {obj} {adj}",
    },
}


def sample_content(rng: np.random.Generator) -> dict[str, Any]:
    """Random language-independent content for one parallel template (concept indexes and a count)."""
    template = str(rng.choice(sorted(PARALLEL_TEMPLATES)))
    band = rng.random()
    num = int(
        rng.integers(2, 21)
        if band < 0.6
        else rng.integers(21, 100)
        if band < 0.9
        else rng.integers(100, 2001)
    )
    return {
        "template": template,
        "subj": int(rng.integers(len(lx.SUBJECTS))),
        "verb": int(rng.integers(len(lx.VERBS))),
        "obj": int(rng.integers(len(lx.OBJECTS))),
        "colour": int(rng.integers(len(lx.COLOURS))),
        "adj": int(rng.integers(len(lx.ADJECTIVES))),
        "place": int(rng.integers(len(lx.PLACES))),
        "num": num,
    }


def content_key(content: dict[str, Any]) -> str:
    """The split key of parallel content: only the slots its template uses."""
    used = {"act": "subj verb num colour obj", "where": "subj place", "there": "num colour obj place"}
    names = used.get(content["template"], "colour obj adj").split()
    return "parallel|" + content["template"] + "|" + "|".join(f"{n}={content[n]}" for n in names)


def _join_article(article: str, noun: str) -> str:
    return article + noun if article.endswith("'") else f"{article} {noun}"


def _parallel_slots(content: dict[str, Any], language: str) -> dict[str, _Token]:
    obj = lx.OBJECTS[content["obj"]][language]
    colour = lx.COLOURS[content["colour"]][language]
    adj = lx.ADJECTIVES[content["adj"]][language]
    plural = content["template"] in ("act", "there")
    slots = {
        "subj": _words(lx.SUBJECTS[content["subj"]][language]),
        "verb": _words(lx.VERBS[content["verb"]][language]),
        "place": _words(lx.PLACES[content["place"]][language]),
    }
    n = content["num"]
    if language == "en":
        slots |= {"obj": _words(obj[1] if plural else obj[0]), "colour": _words(colour), "adj": _words(adj)}
        slots["num"] = _number_token(n, language)
    elif language == "zh":
        slots |= {"obj": _words(obj[0]), "mw": _words(obj[1]), "colour": _words(colour), "adj": _words(adj)}
        slots["num"] = _number_token(n, language, counting=True)
    elif language == "de":
        article, singular, plural_form = obj
        slots |= {"obj": _words(plural_form if plural else singular), "colour": _words(colour + "e")}
        slots |= {"art": _words(article), "adj": _words(adj), "num": _number_token(n, language)}
    else:  # fr, es, it: noun with article in the singular, adjectives agree in gender and number
        article, singular, plural_form, gender = obj[:4]
        gender_pl = obj[4] if language == "it" else gender
        g = gender_pl if plural else gender
        colour_form = colour[(2 if plural else 0) + (1 if g == "f" else 0)]
        slots |= {
            "obj": _words(plural_form if plural else _join_article(article, singular)),
            "colour": _words(colour_form),
            "adj": _words(adj[1 if gender == "f" else 0]),
            "num": _number_token(n, language, feminine=g == "f"),
        }
    return slots


def render_parallel(content: dict[str, Any], language: str) -> Sentence:
    """The parallel ``content`` rendered as a sentence of ``language`` (en, zh, de, fr, es, it)."""
    slots = _parallel_slots(content, language)
    tokens = _expand(PARALLEL_TEMPLATES[content["template"]][language], language, slots)
    t = content["template"]
    facts: dict[str, Any] = {"template": t, "content": dict(content)}
    if t in ("act", "there"):
        facts["number"] = content["num"]
    if t != "where":
        facts["colour"] = lx.COLOURS[content["colour"]]["en"]
        facts["object"] = lx.OBJECTS[content["obj"]]["en"][0]
    if t == "describe":
        facts["adjective"] = lx.ADJECTIVES[content["adj"]]["en"]
    if t in ("act", "where"):
        facts["subject"] = lx.SUBJECTS[content["subj"]]["en"]
    if t in ("where", "there"):
        facts["place"] = lx.PLACES[content["place"]]["en"]
    return _finish(language, tokens, content_key(content), facts)


# ---- carrier phrases over the broad vocabulary -------------------------------------------------
# Slots: {w}, {w2}: vocabulary words (used as mentions, so any part of speech fits);
# {n}: a number label (page, line, "number n"); {nc}: a count (>= 2); {ncf}: a count of a
# feminine noun (fr "fois", es "veces").

CARRIERS = {
    "en": [
        "the next word is {w}",
        "please say {w} again",
        "the word {w} is on page {n}",
        "{w} and {w2} are on the list",
        "she said {w} and then {w2}",
        "we heard the word {w} {nc} times",
        "number {n} is {w}",
        "write {w} on line {n}",
    ],
    "de": [
        "das nächste Wort ist {w}",
        "bitte sag noch einmal {w}",
        "das Wort {w} steht auf Seite {n}",
        "{w} und {w2} stehen auf der Liste",
        "sie sagte {w} und dann {w2}",
        "wir hörten das Wort {w} {nc} Mal",
        "Nummer {n} ist {w}",
        "schreib {w} in Zeile {n}",
    ],
    "fr": [
        "le mot suivant est {w}",
        "répète {w} s'il te plaît",
        "le mot {w} est à la page {n}",
        "{w} et {w2} sont sur la liste",
        "elle a dit {w} puis {w2}",
        "nous avons entendu le mot {w} {ncf} fois",
        "le numéro {n} est {w}",
        "écris {w} à la ligne {n}",
    ],
    "es": [
        "la siguiente palabra es {w}",
        "por favor repite {w}",
        "la palabra {w} está en la página {n}",
        "{w} y {w2} están en la lista",
        "ella dijo {w} y luego {w2}",
        "oímos la palabra {w} {ncf} veces",
        "el número {n} es {w}",
        "escribe {w} en la línea {n}",
    ],
    "it": [
        "la prossima parola è {w}",
        "per favore ripeti {w}",
        "la parola {w} è a pagina {n}",
        "{w} e {w2} sono nella lista",
        "lei ha detto {w} e poi {w2}",
        "abbiamo sentito la parola {w} {nc} volte",
        "il numero {n} è {w}",
        "scrivi {w} alla riga {n}",
    ],
    "zh": [
        "下一个 词 是 {w}",
        "请 再 说 一遍 {w}",
        "{w} 这个 词 在 第{n}页",
        "{w} 和 {w2} 都 在 名单 上",
        "她 说 了 {w} 然后 说 了 {w2}",
        "我们 听到 {w} 这个 词 {nc}次",
        "{n}号 是 {w}",
        "把 {w} 写 在 第{n}行",
    ],
    "ja": [
        "つぎの ことばは {w} です",
        "もういちど {w} と いって ください",
        "{w} と {w2} を かいて ください",
        "ばんごうは {n} です",
        "{n}ページに {w} が あります",
        "{w} は {nc}かい きこえました",
    ],
    "ko": [
        "다음 단어는 {w}입니다",
        "{w} 그리고 {w2}",
        "정답은 {n}번입니다",
        "{n}쪽에 있는 단어는 {w}입니다",
        "오늘의 단어는 {w}입니다",
        "{w} 다음에 {w2}",
    ],
}


def _vocab_word(rng: np.random.Generator, language: str, skip: int = 150) -> str:
    """A vocabulary word, skipping the most frequent function words."""
    vocab = vocabulary(language)
    return vocab[int(rng.integers(min(skip, len(vocab) // 4), len(vocab)))]


def carrier_sentence(rng: np.random.Generator, language: str) -> Sentence:
    """A carrier phrase of ``language`` with vocabulary words and possibly a number."""
    template = str(rng.choice(CARRIERS[language]))
    w, w2 = _vocab_word(rng, language), _vocab_word(rng, language)
    n = int(rng.integers(1, 100) if rng.random() < 0.7 else rng.integers(100, 10000))
    count = int(rng.integers(2, 31))
    slots = {
        "w": _Token([w], w),
        "w2": _Token([w2], w2),
        "n": _number_token(n, language, counting=False),
        "nc": _number_token(count, language),
        "ncf": _number_token(count, language, feminine=True),
    }
    tokens = _expand(template, language, slots)
    mentioned = [x for x, slot in ((w, "{w}"), (w2, "{w2}")) if slot in template]
    facts: dict[str, Any] = {"template": "carrier", "mentioned": mentioned}
    if "{n}" in template:
        facts["number"] = n
    elif "{nc" in template:
        facts["number"] = count
    key = f"carrier|{language}|{CARRIERS[language].index(template)}|{w}|{w2}|{facts.get('number', '')}"
    return _finish(language, tokens, key, facts)


def word_list_sentence(rng: np.random.Generator, language: str) -> Sentence:
    """Three to six vocabulary words in a row (a word list read aloud)."""
    words = [_vocab_word(rng, language, skip=50) for _ in range(int(rng.integers(3, 7)))]
    tokens = [_Token([w], w) for w in words]
    return _finish(
        language, tokens, "list|" + language + "|" + "|".join(words), {"template": "list", "mentioned": words}
    )


SENTENCE_KINDS = ("parallel", "carrier", "list")
# Share of each kind of sentence; a language without parallel templates (ja, ko) says a carrier
# phrase where the mix asks for a parallel sentence.
DEFAULT_SENTENCE_MIX = {"parallel": 0.45, "carrier": 0.45, "list": 0.10}


def sentence_kind_of_key(key: object) -> str | None:
    """The kind of sentence (``parallel``, ``carrier``, ``list``) a sentence key names: its prefix;
    None when ``key`` is not a sentence key (missing, or not ``kind|…``)."""
    return key.split("|", 1)[0] if isinstance(key, str) and "|" in key else None


def sentence_weights(language: str, mix: dict[str, float] | None = None) -> dict[str, float]:
    """The weight of each sentence kind for ``language`` under ``mix`` (default: the built-in mix)."""
    w = dict(DEFAULT_SENTENCE_MIX if mix is None else mix)
    if language not in lx.PARALLEL_LANGUAGES:
        w["carrier"] = w.get("carrier", 0.0) + w.pop("parallel", 0.0)
    return {kind: w.get(kind, 0.0) for kind in SENTENCE_KINDS if w.get(kind, 0.0) > 0}


def sample_sentence(
    rng: np.random.Generator, language: str, mix: dict[str, float] | None = None
) -> tuple[Sentence, dict[str, Any] | None]:
    """A random sentence of ``language``: parallel template (en zh de fr es it), carrier or word list,
    drawn with the weights of ``mix`` (kind -> weight; default :data:`DEFAULT_SENTENCE_MIX`).

    Returns the sentence and, for parallel templates, its content (to render the translation).
    """
    weights = sentence_weights(language, mix)
    if not weights:
        raise ValueError(f"the sentence mix {mix} gives {language} no kind of sentence")
    r = rng.random() * sum(weights.values())
    edges = itertools.accumulate(weights.values())
    kind = next((k for k, edge in zip(weights, edges) if r < edge), list(weights)[-1])
    if kind == "parallel":
        content = sample_content(rng)
        return render_parallel(content, language), content
    if kind == "carrier":
        return carrier_sentence(rng, language), None
    return word_list_sentence(rng, language), None
