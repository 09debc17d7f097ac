"""Natural-language targets built from a clip's facts: captions (varied wording) and short exact QA pairs.

``facts`` is the dictionary a clip generator returns (see generate.py): it always has ``kind``
(speech, event, scene, note, music, song) and the labels of that kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auricle.data.synth.grammar import LANGUAGE_NAMES
from auricle.data.synth.music import note_name
from auricle.data.synth.scenes import SCENES
from auricle.data.synth.sounds import EVENT_CLASSES
from auricle.data.synth.vocab import vocabulary

_WHO = {
    "male": ("a man", "a male voice", "a male speaker"),
    "female": ("a woman", "a female voice", "a female speaker"),
    "child": ("a child", "a child-like voice", "a young voice"),
    "whisper": ("someone whispering", "a whispering voice"),
    "robotic": ("a robotic voice", "a synthetic, robot-like voice"),
}
_MANNER = {
    "neutral": ("in a neutral tone", "at a normal pace", "in an even voice"),
    "excited": ("excitedly", "in a high, lively voice", "quickly and energetically"),
    "calm": ("calmly", "slowly and calmly", "in a relaxed voice"),
    "sad": ("sadly", "in a slow, low and flat voice", "in a subdued voice"),
}
_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def augment_phrase(steps: list[dict]) -> str:
    """How augmentation changed the recording, as a caption suffix ("" when clean)."""
    parts = []
    for s in steps:
        if s["type"] == "noise" and s["snr_db"] < 20:
            parts.append(
                f"with sounds of {SCENES[s['scene']]['place']} in the background"
                if s["source"] == "scene"
                else "over background noise"
            )
        elif s["type"] == "reverb" and s["rt60"] > 0.5:
            parts.append("in a reverberant room")
        elif s["type"] == "telephone":
            parts.append("over a telephone line")
    return (" " + ", ".join(parts)) if parts else ""


def event_phrase(label: str) -> str:
    """The caption noun phrase of a sound event class."""
    return EVENT_CLASSES[label][1]


def caption(facts: dict[str, Any], rng: np.random.Generator) -> str:
    """A one-sentence caption of the clip with randomly chosen wording."""
    kind = facts["kind"]
    tail = augment_phrase(facts.get("augment", []))
    if kind == "speech":
        who, manner = _pick(rng, _WHO[facts["vocal"]]), _pick(rng, _MANNER[facts["emotion"]])
        lang = LANGUAGE_NAMES[facts["language"]]
        text = _pick(
            rng,
            (
                f"{_cap(who)} speaks {lang} {manner}{tail}.",
                f"{_cap(who)} says a short sentence in {lang}, {manner}{tail}.",
                f"Speech in {lang}: {who} talking {manner}{tail}.",
                f"{_cap(who)} reads {len(facts['words'])} words aloud in {lang}{tail}.",
            ),
        )
        return text
    if kind in ("event", "scene"):
        labels = list(dict.fromkeys(e[0] for e in facts["events"]))
        phrases = [event_phrase(x) for x in labels]
        if kind == "scene":
            place = SCENES[facts["scene"]]["place"]
            return _pick(
                rng,
                (
                    f"Ambience of {place} with {_join(phrases)}{tail}.",
                    f"{_cap(_join(phrases))} can be heard in {place}{tail}.",
                    f"Sounds of {place}: {_join(phrases)}{tail}.",
                ),
            )
        if len(facts["events"]) > 1 and len(labels) == 1:
            n = _COUNT_WORDS[min(len(facts["events"]), 10)]
            return _pick(
                rng,
                (f"{_cap(phrases[0])}, heard {n} times{tail}.", f"{_cap(n)} bursts of {phrases[0]}{tail}."),
            )
        return _pick(
            rng,
            (
                f"{_cap(_join(phrases))}{tail}.",
                f"{_cap(_join(phrases))} in an otherwise quiet setting{tail}.",
                f"There is {_join(phrases)}{tail}.",
            ),
        )
    return music_caption(facts, rng)


def music_caption(facts: dict[str, Any], rng: np.random.Generator) -> str:
    """A templated description of a note, piece or song (key, tempo, instruments, mood)."""
    tail = augment_phrase(facts.get("augment", []))
    if facts["kind"] == "note":
        n = facts["note"]
        quality = f" {n['qualities'][0].replace('_', ' ')}" if n["qualities"] else ""
        loud = {25: "very softly", 50: "softly", 75: "moderately", 100: "loudly", 127: "very loudly"}[
            n["velocity"]
        ]
        return _pick(
            rng,
            (
                f"A single{quality} {n['instrument'].replace('_', ' ')} note, {note_name(n['pitch'])}, played {loud}{tail}.",
                f"One {n['instrument'].replace('_', ' ')} note at {note_name(n['pitch'])}{tail}.",
            ),
        )
    instruments = _join([i.replace("_", " ") for i in facts["instruments"]]) + (
        " with drums" if facts["drums"] else ""
    )
    tempo_word = "slow" if facts["tempo"] < 90 else "moderate" if facts["tempo"] <= 120 else "fast"
    if facts["kind"] == "song":
        who = "A female voice" if facts["gender"] == "female" else "A male voice"
        lang = LANGUAGE_NAMES[facts["language"]]
        return _pick(
            rng,
            (
                f"{who} sings in {lang} over {instruments}, in {facts['key']} at {facts['tempo']} BPM{tail}.",
                f"A {facts['mood']} {tempo_word} song in {facts['key']}: {who.lower()} singing in {lang} with {instruments}{tail}.",
            ),
        )
    return _pick(
        rng,
        (
            f"A {facts['mood']} piece in {facts['key']} at {facts['tempo']} BPM played by {instruments}{tail}.",
            f"{_cap(instruments)} play a {tempo_word}, {facts['mood']} tune in {facts['key']}{tail}.",
            f"This {tempo_word} {facts['mood']} track in {facts['key']} features {instruments}{tail}.",
        ),
    )


def _speech_qa(facts: dict[str, Any], rng: np.random.Generator) -> list[tuple[str, str]]:
    words = [w[0] for w in facts["words"]]
    qa = [
        ("How many words are spoken?", str(len(words))),
        ("What language is spoken?", LANGUAGE_NAMES[facts["language"]]),
        ("What is the first word?", words[0]),
        ("What is the last word?", words[-1]),
        (
            "Is the speech fast, normal or slow?",
            "fast" if facts["speed"] > 1.12 else "slow" if facts["speed"] < 0.9 else "normal",
        ),
    ]
    if facts["vocal"] in ("male", "female"):
        qa.append(("Is the speaker male or female?", facts["vocal"]))
    qa.append(("What kind of voice is speaking?", facts["vocal"]))
    if "number" in facts["sentence"]:
        qa.append(("Which number is mentioned?", str(facts["sentence"]["number"])))
    if "colour" in facts["sentence"] and facts["language"] == "en":
        qa.append(("Which colour is mentioned?", facts["sentence"]["colour"]))
    probe = words[int(rng.integers(len(words)))]
    qa.append((f'Does the speaker say the word "{probe}"?', "yes"))
    vocab = vocabulary(facts["language"])
    absent = vocab[int(rng.integers(100, len(vocab)))]
    if absent not in words and absent.lower() not in (w.lower() for w in words):
        qa.append((f'Does the speaker say the word "{absent}"?', "no"))
    return qa


def _events_qa(facts: dict[str, Any]) -> list[tuple[str, str]]:
    events = facts["events"]
    labels = [e[0] for e in events]
    qa = [
        ("How many sound events are there?", str(len(events))),
        ("What sound is heard first?", labels[0]),
        ("What sound is heard last?", labels[-1]),
    ]
    for label in sorted(set(labels)):
        qa.append((f"How many times is {event_phrase(label)} heard?", str(labels.count(label))))
    absent = sorted(set(EVENT_CLASSES) - set(labels))
    if absent:
        qa.append((f"Is there {event_phrase(absent[len(labels) % len(absent)])}?", "no"))
    qa.append((f"Is there {event_phrase(labels[0])}?", "yes"))
    if facts["kind"] == "scene":
        qa.append(("Where was this recorded?", facts["scene"]))
    return qa


def _music_qa(facts: dict[str, Any]) -> list[tuple[str, str]]:
    if facts["kind"] == "note":
        n = facts["note"]
        return [
            ("What is the pitch of this note?", note_name(n["pitch"])),
            ("Which instrument family plays this note?", n["instrument"]),
            ("What is the MIDI velocity of the note?", str(n["velocity"])),
        ]
    qa = [
        ("What key is the music in?", facts["key"]),
        ("Is the music in a major or minor key?", facts["key"].split()[1]),
        ("What is the tempo in beats per minute?", str(facts["tempo"])),
        ("Are there drums?", "yes" if facts["drums"] else "no"),
        ("How many chords are played?", str(len(facts["chords"]))),
        ("What is the first chord?", facts["chords"][0]),
        ("What is the mood of the music?", facts["mood"]),
    ]
    if facts["kind"] == "song":
        qa += [
            ("What language is the song sung in?", LANGUAGE_NAMES[facts["language"]]),
            ("What is the first word sung?", facts["words"][0][0]),
            ("How many words are sung?", str(len(facts["words"]))),
            ("What is the first note of the melody?", note_name(facts["melody"][0][0])),
        ]
    return qa


def qa_pairs(facts: dict[str, Any], rng: np.random.Generator) -> list[tuple[str, str]]:
    """Every question this clip can answer, with its short exact answer."""
    kind = facts["kind"]
    if kind == "speech":
        return _speech_qa(facts, rng)
    if kind in ("event", "scene"):
        return _events_qa(facts)
    return _music_qa(facts)


def kind_word(facts: dict[str, Any]) -> str:
    """What the clip is, in one or two words (for chats comparing two audios)."""
    return {
        "speech": "speech",
        "event": "sound effects",
        "scene": "an acoustic scene",
        "note": "a musical note",
        "music": "music",
        "song": "a song",
    }[facts["kind"]]
