"""Speech synthesiser backends: espeak-ng and flite through their C libraries, Festival as a process.

Each backend turns a list of words (one synthesis call per word) into a list of 16 kHz float
arrays, untrimmed. Determinism: espeak-ng and flite keep hidden state between calls (a pitch
flutter index, random excitation), so their output depends on everything synthesised before in
the same process. The generator therefore synthesises each fixed chunk of clips in a freshly
forked child of a worker that never synthesises itself (see :func:`auricle.data.synth.engine.run_forked`),
after :func:`reset_random_state`. Festival runs as one long-lived process per worker; its output
for a word does not depend on what it said before (checked in tests/test_synth_speech.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from auricle.data.synth.dsp import SAMPLE_RATE, resample
from auricle.errors import ConfigError

INSTALL_HINTS = {
    "espeak": "apt-get install espeak-ng",
    "festival": "apt-get install festival festvox-us-slt-hts festvox-kallpc16k festvox-italp16k",
    "flite": "apt-get install flite",
}


class SynthesisError(RuntimeError):
    """A synthesiser failed on some input (the caller may try other words or another voice)."""


@dataclass(frozen=True)
class Voice:
    """One synthesiser voice: backend, voice name, optional espeak-ng variant, language and class."""

    backend: str  # espeak | festival | flite
    name: str  # espeak-ng language voice, Festival voice function suffix or flite voice
    variant: str | None  # espeak-ng variant (e.g. "m3"), None for the others
    language: str  # ISO 639-1
    gender: str  # male | female
    family: str  # male | female | whisper | robotic (the voice family before any child-like scaling)

    @property
    def key(self) -> str:
        """A stable identifier, e.g. ``espeak:en-gb-scotland+m3`` or ``festival:kal_diphone``."""
        return f"{self.backend}:{self.name}" + (f"+{self.variant}" if self.variant else "")


@dataclass(frozen=True)
class Prosody:
    """How to say one word: factors relative to the voice's defaults.

    ``speed`` multiplies the speaking rate, ``pitch`` the mean F0; ``range`` is the pitch
    variation in [0, 1] (espeak-ng; 0.5 is the default); ``tract`` > 1 shortens the vocal tract
    (the word is synthesised slower and lower, then resampled up, which raises formants: a
    child-like voice); ``f0`` forces a constant F0 in Hz (singing, espeak-ng only).
    """

    speed: float = 1.0
    pitch: float = 1.0
    range: float = 0.5
    tract: float = 1.0
    f0: float | None = None


# espeak-ng: mean F0 relative to the default for pitch parameter 0, 25, 50, 75, 100 (measured).
_ESPEAK_PITCH_TABLE = ((0, 0.73), (25, 0.84), (50, 1.0), (75, 1.27), (100, 1.67))


def _espeak_pitch_param(factor: float) -> int:
    xs = [np.log(f) for _, f in _ESPEAK_PITCH_TABLE]
    ys = [p for p, _ in _ESPEAK_PITCH_TABLE]
    return int(round(float(np.interp(np.log(factor), xs, ys))))


class EspeakBackend:
    """espeak-ng through ``libespeak-ng`` (many languages, dozens of voice variants)."""

    name = "espeak"
    _SYNC_OUTPUT = 2  # AUDIO_OUTPUT_SYNCHRONOUS
    _UTF8 = 1  # espeakCHARS_UTF8
    _RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._rate = 22050
        self._chunks: list[np.ndarray] = []
        self._callback = None
        self._current = ""

    def available(self) -> bool:
        """Whether libespeak-ng can be loaded."""
        try:
            self._load()
        except OSError:
            return False
        return True

    def _load(self) -> ctypes.CDLL:
        if self._lib is None:
            path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
            lib = ctypes.CDLL(path)
            rate = lib.espeak_Initialize(self._SYNC_OUTPUT, 0, None, 0)
            if rate <= 0:
                raise OSError("espeak_Initialize failed (espeak-ng-data missing?)")
            proto = ctypes.CFUNCTYPE(
                ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
            )

            def collect(wav, n, _events):  # called by espeak-ng with each block of samples
                if n > 0 and wav:
                    self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
                return 0

            self._callback = proto(collect)  # keep a reference: espeak holds the pointer
            lib.espeak_SetSynthCallback(self._callback)
            lib.espeak_ng_SetConstF0.argtypes = [ctypes.c_int]
            self._lib, self._rate = lib, rate
        return self._lib

    def synth_words(self, words: Sequence[str], voice: Voice, prosody: Sequence[Prosody]) -> list[np.ndarray]:
        """Synthesise each word separately; returns 16 kHz float arrays (untrimmed)."""
        lib = self._load()
        spec = f"{voice.name}+{voice.variant}" if voice.variant else voice.name
        if spec != self._current:
            if lib.espeak_SetVoiceByName(spec.encode()) != 0:
                raise ConfigError(f"espeak-ng has no voice {spec!r}; list them with `espeak-ng --voices`")
            self._current = spec
        out = []
        for word, p in zip(words, prosody):
            wpm = int(np.clip(175 * p.speed / p.tract, 80, 450))
            lib.espeak_SetParameter(self._RATE, wpm, 0)
            lib.espeak_SetParameter(self._PITCH, _espeak_pitch_param(p.pitch / p.tract), 0)
            lib.espeak_SetParameter(self._RANGE, int(round(100 * p.range)), 0)
            lib.espeak_ng_SetConstF0(int(round(p.f0 / p.tract)) if p.f0 else 0)
            self._chunks.clear()
            text = word.encode("utf-8")
            lib.espeak_Synth(text, len(text) + 1, 0, 0, 0, self._UTF8, None, None)
            raw = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            out.append(resample(raw.astype(np.float64) / 32768.0, self._rate * p.tract, SAMPLE_RATE))
        return out


class _FliteWave(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    ]


class _FliteVoice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


class FliteBackend:
    """flite through ``libflite`` with its built-in US English voices kal16, awb, rms and slt."""

    name = "flite"
    # voice -> (library suffix, default mean F0 in Hz or None when the voice ignores int_f0_target_mean)
    VOICES = {"kal": ("kal16", 95.0), "awb": ("awb", 130.0), "rms": ("rms", None), "slt": ("slt", 172.0)}

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._voices: dict[str, ctypes.POINTER(_FliteVoice)] = {}

    def available(self) -> bool:
        """Whether libflite and its voice libraries can be loaded."""
        try:
            self._voice("kal")
        except OSError:
            return False
        return True

    def _voice(self, name: str):
        if self._lib is None:
            lib = ctypes.CDLL("libflite.so.1", mode=ctypes.RTLD_GLOBAL)
            lib.flite_init()
            lib.flite_text_to_wave.restype = ctypes.POINTER(_FliteWave)
            lib.flite_text_to_wave.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            lib.feat_set_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]
            lib.delete_wave.argtypes = [ctypes.POINTER(_FliteWave)]
            self._lib = lib
        if name not in self._voices:
            suffix = self.VOICES[name][0]
            vlib = ctypes.CDLL(f"libflite_cmu_us_{suffix}.so.1", mode=ctypes.RTLD_GLOBAL)
            register = getattr(vlib, f"register_cmu_us_{suffix}")
            register.restype = ctypes.POINTER(_FliteVoice)
            register.argtypes = [ctypes.c_char_p]
            self._voices[name] = register(None)
        return self._voices[name]

    def synth_words(self, words: Sequence[str], voice: Voice, prosody: Sequence[Prosody]) -> list[np.ndarray]:
        """Synthesise each word separately; returns 16 kHz float arrays (untrimmed)."""
        vp = self._voice(voice.name)
        lib = self._lib
        base_f0 = self.VOICES[voice.name][1]
        out = []
        for word, p in zip(words, prosody):
            # voices without F0 control change pitch by resampling only (formants move with it)
            tract = p.tract if base_f0 else p.tract * p.pitch
            feats = vp.contents.features
            lib.feat_set_float(feats, b"duration_stretch", float(tract / p.speed))
            if base_f0:
                lib.feat_set_float(feats, b"int_f0_target_mean", float(base_f0 * p.pitch / tract))
            wave = lib.flite_text_to_wave(word.encode("latin-1", "replace"), vp)
            w = wave.contents
            raw = np.ctypeslib.as_array(w.samples, shape=(w.num_samples,)).astype(np.float64) / 32768.0
            rate = w.sample_rate
            lib.delete_wave(wave)
            out.append(resample(raw, rate * tract, SAMPLE_RATE))
        return out


class FestivalBackend:
    """Festival (``festival --pipe``) with the HTS voice cmu_us_slt_arctic_hts and the diphone
    voices kal_diphone (English) and lp_diphone (Italian). Speed through ``Duration_Stretch``;
    pitch by resampling (which moves formants with it)."""

    name = "festival"
    _DONE = "@@auricle-done@@"

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._owner = -1
        self._dir: Path | None = None

    def available(self) -> bool:
        """Whether the festival program and the three voices are installed."""
        if not shutil.which("festival"):
            return False
        roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
        needed = ["cmu_us_slt_arctic_hts", "kal_diphone", "lp_diphone"]
        return all(any(any(r.glob(f"*/{v}")) for r in roots if r.exists()) for v in needed)

    def _command(self, text: str) -> None:
        proc = self._process()
        proc.stdin.write(f'{text}\n(format t "{self._DONE}\\n")\n')
        proc.stdin.flush()
        lines = []
        while True:
            line = proc.stdout.readline()
            if not line:  # festival crashes on a few inputs (e.g. lp_diphone "Il" at some stretches)
                self._proc = None
                raise SynthesisError(f"festival exited while running {text!r}: " + "".join(lines[-5:]))
            if self._DONE in line:
                return
            lines.append(line)

    def _process(self) -> subprocess.Popen:
        if self._proc is None or self._owner not in (os.getpid(), _INHERIT_FROM):
            cmd = ["festival", "--pipe"]
            if shutil.which("stdbuf"):  # festival block-buffers its stdout on a pipe
                cmd = ["stdbuf", "-o0", *cmd]
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                encoding="latin-1",  # Festival's Italian letter-to-sound rules read ISO-8859-1
                errors="replace",
                bufsize=1,
            )
            self._owner = os.getpid()
            self._dir = Path(tempfile.mkdtemp(prefix="auricle-festival-", dir=_WORK_DIR))
        return self._proc

    def start(self) -> None:
        """Start the festival process now, or again if it died (a worker does this before forking
        each chunk child, so that children share one process)."""
        if self._proc is not None and self._owner == os.getpid() and self._proc.poll() is not None:
            self._proc = None
        self._process()

    def synth_words(self, words: Sequence[str], voice: Voice, prosody: Sequence[Prosody]) -> list[np.ndarray]:
        """Synthesise each word separately; returns 16 kHz float arrays (untrimmed)."""
        self._command(f"(voice_{voice.name})")
        out = []
        for i, (word, p) in enumerate(zip(words, prosody)):
            factor = p.pitch * p.tract
            path = self._dir / f"w{i}.wav"
            text = word.replace("\\", " ").replace('"', " ")
            self._command(
                f"(Parameter.set 'Duration_Stretch {factor / p.speed:.4f})"
                f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)'
            )
            audio, rate = sf.read(path, dtype="float64")
            out.append(resample(audio, rate * factor, SAMPLE_RATE))
        return out

    def close(self) -> None:
        """Stop the festival process (it also ends with its parent)."""
        if self._proc is not None and self._owner == os.getpid():
            self._proc.kill()
            self._proc.wait()
            self._proc = None
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)


_BACKENDS: dict[str, object] = {}
_INHERIT_FROM = -1  # pid whose Festival process a forked chunk child may use
_WORK_DIR: str | None = None  # where Festival writes its wave files (None: the system temp folder)


def set_work_dir(path: str | Path | None) -> None:
    """Put Festival's scratch files under ``path`` (the generator removes it when done)."""
    global _WORK_DIR
    _WORK_DIR = str(path) if path is not None else None


def mark_forked_child() -> None:
    """Called in a chunk child: it may talk to the Festival process its parent started."""
    global _INHERIT_FROM
    _INHERIT_FROM = os.getppid()


def get_backend(name: str):
    """The (per-process, lazily created) backend called ``name``: espeak, festival or flite."""
    factories = {"espeak": EspeakBackend, "festival": FestivalBackend, "flite": FliteBackend}
    if name not in factories:
        raise ConfigError(f"unknown speech backend {name!r}; valid: {sorted(factories)}")
    if name not in _BACKENDS:
        _BACKENDS[name] = factories[name]()
    return _BACKENDS[name]


def reset_random_state(seed: int = 1) -> None:
    """Seed libc's ``rand`` (used by espeak-ng's and flite's noise sources) before a chunk of work."""
    ctypes.CDLL(None).srand(seed)


def available_backends() -> dict[str, bool]:
    """Which speech backends are installed here, e.g. ``{"espeak": True, "festival": False, ...}``."""
    return {name: get_backend(name).available() for name in ("espeak", "festival", "flite")}


def require_backends(names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` with the apt-get command if any backend in ``names`` is missing."""
    have = available_backends()
    missing = [n for n in names if not have.get(n)]
    if missing:
        hints = "; ".join(f"{n}: {INSTALL_HINTS[n]}" for n in missing)
        raise ConfigError(f"speech backend(s) {missing} not installed; install with {hints}")
