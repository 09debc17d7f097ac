"""Voices, prosody classes and word-by-word rendering of a sentence with exact word times.

Each word is synthesised on its own, its leading and trailing silence is trimmed by an energy
threshold (:func:`auricle.data.synth.dsp.trim`), and the words are joined with pauses of known
length, so every word's start and end sample is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auricle.data.synth import dsp
from auricle.data.synth.backends import Prosody, SynthesisError, Voice, get_backend
from auricle.data.synth.grammar import split_of_key

# espeak-ng language voices (accents) per corpus language
ESPEAK_VOICES = {
    "en": (
        "en-us",
        "en",
        "en-gb-scotland",
        "en-gb-x-rp",
        "en-029",
        "en-us-nyc",
        "en-gb-x-gbclan",
        "en-gb-x-gbcwmd",
    ),
    "zh": ("cmn-latn-pinyin",),
    "de": ("de",),
    "fr": ("fr", "fr-be", "fr-ch"),
    "es": ("es", "es-419"),
    "it": ("it",),
    "ja": ("ja",),
    "ko": ("ko",),
}

# espeak-ng variants (file names under espeak-ng-data/voices/!v) by voice family
_FEMALE = "f1 f2 f3 f4 f5 Alicia Andrea Annie aunty belinda linda steph steph2 steph3 grandma anika"
_MALE = (
    "m1 m2 m3 m4 m5 m6 m7 m8 adam Alex Andy antonio benjamin boris caleb david ed edward edward2 gustave "
    "Henrique Hugo iven iven2 iven3 iven4 john Lee marcelo Marco Mario max Michael michel miguel Mike norbert "
    "pablo paul pedro quincy rob robert sandro shelby travis victor zac Storm grandpa croak Denis Diogo Jacky "
    "klatt klatt2 klatt3 klatt4 klatt5 klatt6 Gene Gene2"
)
VARIANTS: dict[str, tuple[str, str]] = {}  # variant -> (gender, family)
VARIANTS |= {v: ("female", "female") for v in _FEMALE.split()}
VARIANTS |= {v: ("male", "male") for v in _MALE.split()}
VARIANTS |= {"whisper": ("male", "whisper"), "whisperf": ("female", "whisper")}
VARIANTS |= {f"robosoft{i}".replace("robosoft1", "robosoft"): ("male", "robotic") for i in range(1, 9)}
VARIANTS |= {"UniRobot": ("male", "robotic"), "anikaRobot": ("female", "robotic")}

# How often each voice family speaks (then a voice is drawn uniformly within the family).
FAMILY_SHARE = {"female": 0.45, "male": 0.4, "whisper": 0.05, "robotic": 0.1}

# Variants heard only in valid / test (never in train).
HELD_OUT_VARIANTS = {
    "test": ("f4", "m6", "Andrea", "benjamin", "iven3", "klatt4", "robosoft5", "steph3"),
    "valid": ("f5", "m7", "Annie", "david", "iven4", "klatt5", "robosoft6", "linda"),
}

FESTIVAL_VOICES = {
    "en": (("kal_diphone", "male"), ("cmu_us_slt_arctic_hts", "female")),
    "it": (("lp_diphone", "male"),),
}
FLITE_VOICES = (("kal", "male"), ("awb", "male"), ("rms", "male"), ("slt", "female"))

# Share of each backend per language (where installed).
BACKEND_SHARE = {
    "en": {"espeak": 0.65, "flite": 0.2, "festival": 0.15},
    "it": {"espeak": 0.75, "festival": 0.25},
}

# Prosody ("emotion") classes: uniform ranges of speed, pitch, pitch range, and a level offset in dB.
PROSODY_CLASSES = {
    "neutral": {"speed": (0.9, 1.1), "pitch": (0.92, 1.08), "range": (0.4, 0.6), "gain_db": 0.0},
    "excited": {"speed": (1.15, 1.4), "pitch": (1.2, 1.45), "range": (0.75, 1.0), "gain_db": 3.0},
    "calm": {"speed": (0.75, 0.88), "pitch": (0.85, 0.95), "range": (0.2, 0.35), "gain_db": -3.0},
    "sad": {"speed": (0.65, 0.78), "pitch": (0.72, 0.85), "range": (0.0, 0.15), "gain_db": -6.0},
}
SPEECH_RMS_DB = -20.0  # level of a neutral utterance before augmentation


@dataclass
class Speaker:
    """A voice with the prosody it speaks in and its labels."""

    voice: Voice
    prosody: Prosody
    emotion: str  # prosody class
    vocal: str  # male | female | child | whisper | robotic
    gain_db: float
    prosody_key: str  # the held-out unit: quantised speed and pitch of the prosody class draw


def voice_pool(language: str, backend: str, split: str) -> list[Voice]:
    """The voices ``backend`` may use for ``language`` in ``split`` (espeak-ng variants held out)."""
    if backend == "festival":
        return [Voice("festival", n, None, language, g, g) for n, g in FESTIVAL_VOICES[language]]
    if backend == "flite":
        return [Voice("flite", n, None, language, g, g) for n, g in FLITE_VOICES]
    held = {v for vs in HELD_OUT_VARIANTS.values() for v in vs}
    allowed = (
        HELD_OUT_VARIANTS[split]
        if split in HELD_OUT_VARIANTS
        else tuple(v for v in VARIANTS if v not in held)
    )
    return [
        Voice("espeak", name, var, language, VARIANTS[var][0], VARIANTS[var][1])
        for name in ESPEAK_VOICES[language]
        for var in allowed
    ]


def choose_backend(rng: np.random.Generator, language: str, installed: dict[str, bool]) -> str:
    """Pick a backend for ``language`` by :data:`BACKEND_SHARE` among the installed ones."""
    share = {b: w for b, w in BACKEND_SHARE.get(language, {"espeak": 1.0}).items() if installed.get(b)}
    if not share:
        raise RuntimeError(f"no installed speech backend can speak {language!r}")
    names = sorted(share)
    p = np.array([share[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_speaker(
    rng: np.random.Generator,
    language: str,
    split: str,
    installed: dict[str, bool],
    valid_frac: float,
    test_frac: float,
) -> Speaker:
    """A random voice and prosody for ``split``: espeak-ng variants and prosody settings are held out
    per split (prosody by rejection until the quantised speed/pitch pair hashes to ``split``)."""
    backend = choose_backend(rng, language, installed)
    pool = voice_pool(language, backend, split)
    families = sorted({v.family for v in pool})
    share = np.array([FAMILY_SHARE[f] for f in families])
    family = families[int(rng.choice(len(families), p=share / share.sum()))]
    pool = [v for v in pool if v.family == family]
    voice = pool[int(rng.integers(len(pool)))]
    emotion = str(rng.choice(sorted(PROSODY_CLASSES)))
    cls = PROSODY_CLASSES[emotion]
    for _ in range(1000):
        speed = round(float(rng.uniform(*cls["speed"])), 2)
        pitch = round(float(rng.uniform(*cls["pitch"])), 2)
        if split_of_key(f"prosody|{speed}|{pitch}", valid_frac, test_frac) == split:
            break
    key = f"{speed}|{pitch}"
    rng_range = round(float(rng.uniform(*cls["range"])), 2)
    vocal, tract = voice.family, 1.0
    if voice.family == "female" and backend != "festival" and rng.random() < 0.3:
        vocal, tract = "child", round(float(rng.uniform(1.2, 1.35)), 2)
        pitch = round(pitch * float(rng.uniform(1.3, 1.5)), 2)
    if backend == "festival":  # pitch by resampling only: keep formant shifts moderate
        pitch = float(np.clip(pitch, 0.8, 1.3))
    return Speaker(voice, Prosody(speed, pitch, rng_range, tract), emotion, vocal, cls["gain_db"], key)


@dataclass
class Rendered:
    """Audio of a rendered word sequence and each word's ``(word, start, end)`` in seconds."""

    audio: np.ndarray
    words: list[tuple[str, float, float]]


class EmptyWordError(SynthesisError):
    """A synthesiser produced no sound for a word."""


def synth_trimmed(words: list[str], voice: Voice, prosody: list[Prosody]) -> list[np.ndarray]:
    """Each word synthesised and trimmed of silence; raises :class:`EmptyWordError` for a silent word."""
    chunks = get_backend(voice.backend).synth_words(words, voice, prosody)
    out = []
    for word, chunk in zip(words, chunks):
        trimmed = dsp.trim(chunk)
        if len(trimmed) < 0.02 * dsp.SAMPLE_RATE:
            raise EmptyWordError(f"{voice.key} produced no sound for {word!r}")
        out.append(trimmed)
    return out


def join_words(
    words: list[str], chunks: list[np.ndarray], pauses: list[float], lead: float, tail: float
) -> Rendered:
    """Concatenate trimmed word audio with ``pauses`` (seconds, one fewer than words) between them."""
    sr = dsp.SAMPLE_RATE
    parts, times, pos = [dsp.silence(lead)], [], len(dsp.silence(lead))
    for i, (word, chunk) in enumerate(zip(words, chunks)):
        times.append((word, round(pos / sr, 5), round((pos + len(chunk)) / sr, 5)))
        parts.append(chunk)
        pos += len(chunk)
        gap = dsp.silence(pauses[i] if i < len(pauses) else tail)
        parts.append(gap)
        pos += len(gap)
    return Rendered(np.concatenate(parts), times)


def render_sentence(rng: np.random.Generator, words: list[str], speaker: Speaker) -> Rendered:
    """Say ``words`` with ``speaker``: word-by-word synthesis joined by random pauses, level set by
    the prosody class."""
    chunks = synth_trimmed(words, speaker.voice, [speaker.prosody] * len(words))
    scale = 1.0 / speaker.prosody.speed
    pauses = [
        float(rng.uniform(0.3, 0.6) if rng.random() < 0.1 else rng.uniform(0.04, 0.16)) * scale
        for _ in range(len(words) - 1)
    ]
    out = join_words(words, chunks, pauses, float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.1, 0.4)))
    level = dsp.rms(np.concatenate(chunks))
    target = 10 ** ((SPEECH_RMS_DB + speaker.gain_db) / 20)
    out.audio = out.audio * (target / level) if level > 0 else out.audio
    peak = float(np.max(np.abs(out.audio)))
    if peak > 0.95:
        out.audio *= 0.95 / peak
    return out
