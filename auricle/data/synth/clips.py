"""One clip of each kind: its clean audio, its facts (labels) and the augmentations it allows.

Every maker takes the clip's own random generator and the clip's split, so a clip depends only
on (seed, clip index) and the generator settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from auricle.data.synth import lexicon as lx
from auricle.data.synth.backends import SynthesisError
from auricle.data.synth.grammar import render_parallel, sample_sentence, split_of_key
from auricle.data.synth.music import note_name, note_qualities, render_note, sample_note
from auricle.data.synth.scenes import SCENES, make_event_clip, make_scene
from auricle.data.synth.song import make_piece, make_song
from auricle.data.synth.speech import render_sentence, sample_speaker, voice_pool

ALL_AUGMENT = frozenset({"noise", "reverb", "speed", "pitch", "gain", "telephone", "codec"})
ALLOWED_AUGMENT = {
    "speech": ALL_AUGMENT,
    "event": frozenset({"reverb", "speed", "gain", "telephone", "codec"}),
    "scene": frozenset({"reverb", "speed", "gain", "telephone", "codec"}),
    "note": frozenset({"codec"}),  # level (velocity), reverb and pitch are labels
    "music": frozenset({"noise", "reverb", "gain", "telephone", "codec"}),  # tempo and key are labels
    "song": frozenset({"noise", "reverb", "gain", "codec"}),
}


@dataclass
class Settings:
    """What a clip maker needs to know about the corpus."""

    languages: tuple[str, ...]
    installed: dict[str, bool]
    valid_frac: float
    test_frac: float
    translate: bool  # whether s2tt targets are wanted
    key_valid: float = 0.1  # fraction of sentence / prosody keys reserved for valid
    key_test: float = 0.1  # ... and for test
    language_weights: dict[str, float] = field(default_factory=dict)
    sentence_mix: dict[str, float] | None = None  # kind -> weight; None = the grammar's default


@dataclass
class CleanClip:
    """A clip before augmentation."""

    audio: np.ndarray
    facts: dict[str, Any]
    meta: dict[str, Any]


def _language(rng: np.random.Generator, s: Settings) -> str:
    langs = list(s.languages)
    w = np.array([s.language_weights.get(lang, 1.0) for lang in langs], dtype=np.float64)
    return langs[int(rng.choice(len(langs), p=w / w.sum()))]


def _sentence_for_split(rng: np.random.Generator, language: str, split: str, s: Settings):
    for _ in range(2000):
        sentence, content = sample_sentence(rng, language, s.sentence_mix)
        if split_of_key(sentence.key, s.key_valid, s.key_test) == split:
            return sentence, content
    raise RuntimeError(f"no {split} sentence found for {language}")


def _translation_targets(language: str, s: Settings) -> list[str]:
    if not s.translate or language not in lx.PARALLEL_LANGUAGES:
        return []
    if language == "en":
        return [t for t in lx.PARALLEL_LANGUAGES if t != "en" and t in s.languages]
    return ["en"] if "en" in s.languages else []


def make_speech(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """A sentence said word by word by a random voice, with word times and translations."""
    language = _language(rng, s)
    for _ in range(5):  # a synthesiser may fail on an odd word: draw another sentence and voice
        sentence, content = _sentence_for_split(rng, language, split, s)
        speaker = sample_speaker(rng, language, split, s.installed, s.key_valid, s.key_test)
        try:
            rendered = render_sentence(rng, sentence.words, speaker)
            break
        except SynthesisError:
            continue
    else:
        raise RuntimeError(f"could not render a {language} sentence")
    translations = {}
    targets = _translation_targets(language, s)
    if content is not None and targets:
        target = targets[int(rng.integers(len(targets)))]
        translations[target] = render_parallel(content, target).text_itn
    p = speaker.prosody
    facts = {
        "kind": "speech",
        "language": language,
        "text": sentence.text,
        "text_itn": sentence.text_itn,
        "words": rendered.words,
        "vocal": speaker.vocal,
        "gender": speaker.voice.gender,
        "emotion": speaker.emotion,
        "speed": p.speed,
        "sentence": {k: v for k, v in sentence.facts.items() if k != "content"},
        "translations": translations,
    }
    meta = {
        "voice": speaker.voice.key,
        "backend": speaker.voice.backend,
        "voice_family": speaker.voice.family,
        "prosody": {"speed": p.speed, "pitch": p.pitch, "range": p.range, "tract": p.tract},
        "prosody_key": speaker.prosody_key,
        "sentence_key": sentence.key,
    }
    return CleanClip(rendered.audio, facts, meta)


def make_events(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """One to three sound events over faint noise."""
    clip = make_event_clip(rng, float(rng.uniform(2.0, 8.0)))
    facts = {"kind": "event", "events": clip.events}
    return CleanClip(clip.audio, facts, {"background": clip.background})


def make_scene_clip(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """A scene mixture (background plus foreground events)."""
    scene = str(rng.choice(sorted(SCENES)))
    clip = make_scene(rng, scene, float(rng.uniform(6.0, 10.0)))
    facts = {"kind": "scene", "scene": scene, "events": clip.events}
    return CleanClip(clip.audio, facts, {"background": clip.background})


def make_note(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """One note with NSynth-style labels."""
    spec = sample_note(rng)
    audio = render_note(spec, rng)
    note = {
        "pitch": spec.pitch,
        "velocity": spec.velocity,
        "instrument": spec.family,
        "qualities": note_qualities(spec),
    }
    facts = {"kind": "note", "note": note}
    return CleanClip(audio, facts, {"synthesis": asdict(spec), "pitch_name": note_name(spec.pitch)})


def _music_facts(kind: str, piece) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": piece.key,
        "tempo": piece.tempo,
        "mood": piece.mood,
        "instruments": piece.instruments,
        "drums": piece.drums,
        "chords": piece.chords,
        "melody": [list(m) for m in piece.melody],
    }


def make_music(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """An instrumental piece with key, tempo, mood, instruments and melody labels."""
    piece = make_piece(rng, float(rng.uniform(6.0, 14.0)))
    facts = _music_facts("music", piece)
    return CleanClip(piece.audio, facts, {"key": piece.key, "tempo": piece.tempo, "melody": facts["melody"]})


def make_song_clip(rng: np.random.Generator, split: str, s: Settings) -> CleanClip:
    """A sentence sung by an espeak-ng voice on a melody over an accompaniment."""
    language = _language(rng, s)
    for _ in range(5):
        sentence, _ = _sentence_for_split(rng, language, split, s)
        pool = [v for v in voice_pool(language, "espeak", split) if v.family in ("male", "female")]
        voice = pool[int(rng.integers(len(pool)))]
        try:
            piece = make_song(rng, sentence.words, voice)
            break
        except SynthesisError:
            continue
    else:
        raise RuntimeError(f"could not sing a {language} sentence")
    facts = _music_facts("song", piece) | {
        "language": language,
        "text": sentence.text,
        "text_itn": sentence.text_itn,
        "words": piece.lyrics,
        "vocal": voice.family,
        "gender": voice.gender,
    }
    meta = {
        "voice": voice.key,
        "key": piece.key,
        "tempo": piece.tempo,
        "melody": facts["melody"],
        "sentence_key": sentence.key,
    }
    return CleanClip(piece.audio, facts, meta)


MAKERS = {
    "speech": make_speech,
    "event": make_events,
    "scene": make_scene_clip,
    "note": make_note,
    "music": make_music,
    "song": make_song_clip,
}
