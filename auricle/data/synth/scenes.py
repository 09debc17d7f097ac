"""Acoustic scenes and event clips: sound events placed on a background, with their onsets and offsets.

A scene is defined by its background (noise colour plus continuous textures) and a weighted
distribution of foreground events; the foreground events are the labelled ``events`` of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auricle.data.synth import dsp
from auricle.data.synth.sounds import EVENT_CLASSES, make_event

SR = dsp.SAMPLE_RATE

# scene -> background colour, background textures (event classes looped under everything),
# foreground event weights, and the caption phrase of the place
SCENES: dict[str, dict] = {
    "street": {
        "noise": "brown",
        "textures": ("engine",),
        "events": {"car horn": 3, "siren": 2, "footsteps": 2, "engine": 2, "dog bark": 1, "bird chirp": 1},
        "place": "a busy street",
    },
    "office": {
        "noise": "pink",
        "textures": (),
        "events": {
            "typing": 4,
            "telephone ring": 3,
            "clicking": 2,
            "beeping": 1,
            "knock": 1,
            "door slam": 1,
            "footsteps": 1,
        },
        "place": "an office",
    },
    "park": {
        "noise": "pink",
        "textures": ("wind",),
        "events": {"bird chirp": 4, "dog bark": 2, "footsteps": 2, "whistle": 1, "applause": 1},
        "place": "a park",
    },
    "kitchen": {
        "noise": "pink",
        "textures": (),
        "events": {"water drip": 3, "glass clink": 3, "beeping": 2, "knock": 2, "alarm": 1, "tone": 1},
        "place": "a kitchen",
    },
    "train station": {
        "noise": "pink",
        "textures": ("brown noise",),
        "events": {"bell": 3, "whistle": 2, "engine": 2, "footsteps": 3, "beeping": 1, "buzzer": 1},
        "place": "a train station",
    },
    "construction site": {
        "noise": "brown",
        "textures": ("engine",),
        "events": {"knock": 4, "beeping": 2, "door slam": 2, "buzzer": 2, "alarm": 1},
        "place": "a construction site",
    },
    "rainy day": {
        "noise": "pink",
        "textures": ("rain",),
        "events": {"thunder": 3, "water drip": 2, "door slam": 1, "footsteps": 1, "dog bark": 1},
        "place": "a rainy day outdoors",
    },
    "beach": {
        "noise": "pink",
        "textures": ("wind",),
        "events": {"bird chirp": 3, "whistle": 1, "dog bark": 1, "applause": 1},
        "place": "a beach",
    },
    "hospital": {
        "noise": "white",
        "textures": (),
        "events": {
            "beeping": 4,
            "heartbeat": 2,
            "telephone ring": 2,
            "footsteps": 2,
            "door slam": 1,
            "bell": 1,
        },
        "place": "a hospital ward",
    },
}


@dataclass
class EventClip:
    """A mixture with its labelled foreground events ``(label, start, end)`` in onset order."""

    audio: np.ndarray
    events: list[tuple[str, float, float]]
    scene: str | None
    background: str


def _background(rng: np.random.Generator, n: int, scene: str | None) -> tuple[np.ndarray, str]:
    if scene is None:
        color = str(rng.choice(["white", "pink", "brown"]))
        return dsp.colored_noise(rng, n, color), f"{color} noise"
    spec = SCENES[scene]
    bed = dsp.colored_noise(rng, n, spec["noise"])
    if spec["noise"] == "white":
        bed = dsp.spectral_filter(bed, None, 3000)  # ventilation-like hiss
    for texture in spec["textures"]:
        loop, _, _ = make_event(rng, texture, n / SR)
        loop = np.resize(loop, n)  # repeat to the clip length
        bed = bed + loop * 3 * dsp.rms(bed) / (dsp.rms(loop) or 1)
    if scene == "beach":  # waves: slow swells of the noise bed
        bed = bed * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.08, 0.15) * np.arange(n) / SR))
    return bed, spec["noise"] + " noise" + "".join(f" with {t}" for t in spec["textures"])


def _place(rng: np.random.Generator, labels: list[str], n: int, level: float, ebr_db: tuple[float, float]):
    """Place one event per label at random onsets; returns the foreground and the event list."""
    fg = np.zeros(n)
    events = []
    for label in labels:
        audio, s, e = make_event(rng, label, float(rng.uniform(1.0, 3.0)))
        audio, s, e = audio[: n - SR // 10], s, min(e, n - SR // 10)
        if e <= s:
            continue
        for _ in range(20):  # events do not overlap (0.1 s apart), so counts and order are clear
            onset = int(rng.integers(0, max(1, n - len(audio))))
            a, b = (onset + s) / SR - 0.1, (onset + e) / SR + 0.1
            if all(b <= ev[1] or a >= ev[2] for ev in events):
                break
        else:
            continue
        gain = level * 10 ** (float(rng.uniform(*ebr_db)) / 20) / (dsp.rms(audio[s:e]) or 1)
        fg[onset : onset + len(audio)] += audio * gain
        events.append((label, round((onset + s) / SR, 4), round((onset + e) / SR, 4)))
    events.sort(key=lambda ev: (ev[1], ev[0]))
    return fg, events


def make_event_clip(rng: np.random.Generator, seconds: float, classes: list[str] | None = None) -> EventClip:
    """One to three foreground events (often of one class, repeated) over faint noise."""
    classes = classes or sorted(EVENT_CLASSES)
    n = int(seconds * SR)
    first = str(rng.choice(classes))
    count = int(rng.integers(1, 4))
    labels = [first if rng.random() < 0.6 else str(rng.choice(classes)) for _ in range(count - 1)]
    bed, background = _background(rng, n, None)
    bed *= 10 ** (float(rng.uniform(-70, -45)) / 20)
    fg, events = _place(rng, [first, *labels], n, 0.1, (-3.0, 3.0))
    return EventClip(dsp.normalize(fg + bed, float(rng.uniform(0.3, 0.9))), events, None, background)


def make_scene(rng: np.random.Generator, scene: str, seconds: float) -> EventClip:
    """A scene mixture: its background bed plus two to six of its foreground events."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; valid: {sorted(SCENES)}")
    n = int(seconds * SR)
    weights = SCENES[scene]["events"]
    names = sorted(weights)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    labels = [names[int(i)] for i in rng.choice(len(names), size=int(rng.integers(2, 7)), p=p / p.sum())]
    bed, background = _background(rng, n, scene)
    level = dsp.rms(bed)
    fg, events = _place(rng, labels, n, level, (3.0, 15.0))
    return EventClip(dsp.normalize(fg + bed, float(rng.uniform(0.3, 0.9))), events, scene, background)
