"""Manifest examples for every task family, built from a clip's facts; multi-turn chats from one or two clips.

Which tasks a clip kind yields (when enabled): speech -> asr, srwt, lid, s2tt, vocal, emotion,
caption, aqa; event -> event, caption, aqa; scene -> scene, event, caption, aqa; note ->
note_analysis, music_caption, aqa; music -> music_caption, aqa; song -> music_caption, asr,
srwt, lid, vocal, aqa. ``chat`` examples are added by the generator from any clips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auricle.data.manifest import Event, Example, Word
from auricle.data.synth.describe import caption, kind_word, music_caption, qa_pairs
from auricle.data.synth.grammar import LANGUAGE_NAMES

KIND_TASKS = {
    "speech": ("asr", "srwt", "lid", "s2tt", "vocal", "emotion", "caption", "aqa", "chat"),
    "event": ("event", "caption", "aqa", "chat"),
    "scene": ("scene", "event", "caption", "aqa", "chat"),
    "note": ("note_analysis", "music_caption", "aqa", "chat"),
    "music": ("music_caption", "aqa", "chat"),
    "song": ("music_caption", "asr", "srwt", "lid", "vocal", "aqa", "chat"),
}
QA_PER_CLIP = 2


def _words(facts: dict[str, Any]) -> list[Word]:
    return [Word(w, s, e) for w, s, e in facts["words"]]


def clip_examples(
    clip_id: str,
    audio: str,
    duration: float,
    split: str,
    facts: dict[str, Any],
    meta: dict[str, Any],
    tasks: frozenset[str],
    rng: np.random.Generator,
) -> list[Example]:
    """Every enabled example of one clip (``audio`` is its path relative to the manifest)."""
    kind = facts["kind"]
    lang = facts.get("language")
    out: list[Example] = []

    def add(task: str, suffix: str = "", **fields: Any) -> None:
        if task in tasks:
            ex_id = f"{clip_id}-{task}{suffix}"
            ex = Example(
                id=ex_id, task=task, audio=[audio], duration=duration, split=split, meta=meta, **fields
            )
            ex.validate()
            out.append(ex)

    text_fields = {"language": lang, "target_language": lang}
    if kind in ("speech", "song"):
        add("asr", text=facts["text"], text_itn=facts["text_itn"], **text_fields)
        add("srwt", text=facts["text"], words=_words(facts), **text_fields)
        add("lid", **text_fields)
        add("vocal", label=facts["vocal"], language=lang, target_language="en")
    if kind == "speech":
        for target, translation in sorted(facts.get("translations", {}).items()):
            add("s2tt", f"-{target}", text=translation, language=lang, target_language=target)
        add("emotion", label=facts["emotion"], language=lang, target_language="en")
        add("caption", text=caption(facts, rng), caption_style="plain", language=lang, target_language="en")
    if kind in ("event", "scene"):
        events = [Event(*e) for e in facts["events"]]
        if kind == "scene":
            add("scene", label=facts["scene"], events=events, target_language="en")
        label = ", ".join(dict.fromkeys(e.label for e in events))
        add("event", label=label, events=events, target_language="en")
        add("caption", text=caption(facts, rng), caption_style="plain", target_language="en")
    if kind == "note":
        add("note_analysis", note=dict(facts["note"]), target_language="en")
    if kind in ("note", "music", "song"):
        add("music_caption", text=music_caption(facts, rng), language=lang, target_language="en")
    if "aqa" in tasks:
        pairs = qa_pairs(facts, rng)
        for k in sorted(rng.choice(len(pairs), size=min(QA_PER_CLIP, len(pairs)), replace=False)):
            q, a = pairs[int(k)]
            add("aqa", f"{int(k)}", question=q, text=a, language=lang, target_language="en")
    return out


def _user(text: str, audios: tuple[int, ...] = ()) -> dict[str, Any]:
    content = [{"type": "audio", "audio": i} for i in audios] + [{"type": "text", "text": text}]
    return {"role": "user", "content": content}


def _assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def _first_request(facts: dict[str, Any], rng: np.random.Generator) -> tuple[str, str]:
    if facts["kind"] in ("speech", "song") and rng.random() < 0.6:
        ask = "What does the speaker say?" if facts["kind"] == "speech" else "What are the lyrics?"
        return ask, facts["text_itn"]
    what = caption(facts, rng) if facts["kind"] in ("speech", "event", "scene") else music_caption(facts, rng)
    return str(rng.choice(["Describe this audio.", "What can you hear?", "What is in this recording?"])), what


def chat_example(
    chat_id: str, clips: list[tuple[str, float, dict[str, Any]]], split: str, rng: np.random.Generator
) -> Example:
    """A 2-3 turn conversation about one or two clips ``(audio path, duration, facts)``."""
    messages: list[dict[str, Any]] = []
    if len(clips) == 1:
        facts = clips[0][2]
        ask, answer = _first_request(facts, rng)
        messages += [_user(ask, (0,)), _assistant(answer)]
        pairs = qa_pairs(facts, rng)
        order = rng.permutation(len(pairs))
        turns = 1 + int(rng.random() < 0.5)
        translations = sorted(facts.get("translations", {}).items())
        for k in order[:turns]:
            if translations and rng.random() < 0.4:
                target, text = translations[int(rng.integers(len(translations)))]
                messages += [
                    _user(f"Translate what was said into {LANGUAGE_NAMES[target]}."),
                    _assistant(text),
                ]
                translations = []
            else:
                q, a = pairs[int(k)]
                messages += [_user(q), _assistant(a)]
    else:
        (_, d0, f0), (_, d1, f1) = clips
        c0 = caption(f0, rng) if f0["kind"] in ("speech", "event", "scene") else music_caption(f0, rng)
        c1 = caption(f1, rng) if f1["kind"] in ("speech", "event", "scene") else music_caption(f1, rng)
        messages += [
            _user("What is in each recording?", (0, 1)),
            _assistant(f"The first recording has {kind_word(f0)}: {c0} The second has {kind_word(f1)}: {c1}"),
        ]
        longer = (
            "They are about the same length."
            if abs(d0 - d1) < 0.25
            else ("The first one." if d0 > d1 else "The second one.")
        )
        messages += [_user("Which recording is longer?"), _assistant(longer)]
        if rng.random() < 0.5:
            which, facts = (("first", f0), ("second", f1))[int(rng.integers(2))]
            pairs = qa_pairs(facts, rng)
            q, a = pairs[int(rng.integers(len(pairs)))]
            messages += [_user(f"About the {which} recording: {q[:1].lower() + q[1:]}"), _assistant(a)]
    ex = Example(
        id=chat_id,
        task="chat",
        audio=[c[0] for c in clips],
        duration=round(sum(c[1] for c in clips), 4),
        messages=messages,
        split=split,
        target_language="en",
        meta={"clips": [c[0] for c in clips]},
    )
    ex.validate()
    return ex
