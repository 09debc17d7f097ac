"""The public Python API: ``auricle.load()`` and the :class:`AudioModel` task methods.

>>> import auricle
>>> model = auricle.load("path/to/checkpoint")
>>> model.transcribe("speech.flac", word_timestamps=True).words[0]
Word(word='mister', start=0.0, end=0.38, repaired=False)
>>> model.classify(["a.wav", "b.wav"], kind="scene")          # a list in, a list out (batched)

Every task method takes one audio (a path, the bytes of a file, a file object, or a 16 kHz mono
array) or a list of them, and returns one typed result (``auricle.tasks.results``) or a list.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auricle.audio import load_audio
from auricle.checkpoint.variant import CHAT_VARIANT, is_variant, load_variant
from auricle.errors import CheckpointError, ConfigError
from auricle.model.audiolm import AudioLM
from auricle.tasks.caption import caption as _caption
from auricle.tasks.caption import describe_music as _describe_music
from auricle.tasks.classify import KINDS
from auricle.tasks.classify import classify as _classify
from auricle.tasks.engine import Engine, ModelEngine
from auricle.tasks.fallback import COMPRESSION_RATIO_THRESHOLD, DEFAULT_TEMPERATURES
from auricle.tasks.language import detect_languages
from auricle.tasks.longform import DEFAULT_MAX_SECONDS
from auricle.tasks.music import analyze_music as _analyze_music
from auricle.tasks.prompts import resolve_format
from auricle.tasks.qa import ask as _ask
from auricle.tasks.results import (
    Answer,
    Caption,
    Classification,
    LanguageDetection,
    NoteAnalysis,
    Transcription,
)
from auricle.tasks.transcribe import TIMESTAMP_WINDOW
from auricle.tasks.transcribe import transcribe as _transcribe
from auricle.tasks.translate import translate as _translate
from auricle.tokenizer import load_tokenizer
from auricle.tokenizer.base import Tokenizer

#: Models that ship with auricle, by name -> folder inside the installed package (docs/model-card.md).
SHIPPED_MODELS: dict[str, Path] = {"auricle-small": Path(__file__).parent / "weights" / "auricle-small"}
#: The model used when none is named.
DEFAULT_MODEL: str | None = "auricle-small"

AudioInput = str | os.PathLike | bytes | bytearray | np.ndarray | torch.Tensor
AudioArg = AudioInput | Sequence[AudioInput]


def available_models() -> list[str]:
    """Names accepted by :func:`load` besides checkpoint paths."""
    return sorted(name for name, folder in SHIPPED_MODELS.items() if _installed(folder))


def _model_folder(name_or_path: str | os.PathLike | None) -> Path:
    """The folder :func:`load` reads: a checkpoint folder, or a shipped model's (``None``: the default)."""
    if name_or_path is None:
        if DEFAULT_MODEL is None:
            raise CheckpointError(
                "no model given and no shipped model is installed yet; pass a checkpoint folder, "
                "e.g. auricle.load('path/to/Qwen-Audio')"
            )
        # The installed copy, never a folder of the same name in the working directory.
        return _shipped_folder(DEFAULT_MODEL)
    folder, name = Path(name_or_path), str(name_or_path)
    if folder.is_dir():
        if name in SHIPPED_MODELS:
            warnings.warn(
                f"loading the folder {folder.resolve()}, not the shipped model {name!r} of the same "
                "name; auricle.load() with no argument loads the shipped default",
                stacklevel=3,
            )
        return folder
    if name not in SHIPPED_MODELS:
        raise CheckpointError(
            f"model {name!r} not found: it is not a folder and not a shipped model "
            f"(available models: {available_models()}); pass the path of a checkpoint folder"
        )
    return _shipped_folder(name)


def _shipped_folder(name: str) -> Path:
    """A shipped model's folder, or a clear error when its files are missing."""
    folder = SHIPPED_MODELS[name]
    if not _installed(folder):
        raise CheckpointError(
            f"the shipped model {name!r} is missing from this installation "
            f"(expected in {folder}); reinstall auricle, or pass a checkpoint folder"
        )
    return folder


def _installed(folder: Path) -> bool:
    """Whether a shipped model's files are present (a bare folder left by a broken install is not)."""
    return (folder / "config.json").is_file()


def load(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype = "auto",
    batch_size: int = 8,
    task_format: str = "auto",
    max_new_tokens: int | None = None,
    beam_size: int = 1,
) -> AudioModel:
    """Load a model by shipped name or checkpoint folder (official Qwen-Audio, HF Qwen2-Audio, auricle).

    A folder with a ``chat/`` variant (auricle-small has one; :mod:`auricle.checkpoint.variant`)
    loads as two models sharing their audio encoder, as Qwen-Audio and Qwen-Audio-Chat: the task
    methods use the base model, :meth:`AudioModel.chat` (and ``task_format="chat"``) the chat one.

    Args:
        name_or_path: a name from :func:`available_models` or a checkpoint folder; ``None``: the
            shipped default model, ``auricle-small``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``…; default CUDA when available, else CPU.
        dtype: ``"auto"`` (the checkpoint's dtype on GPU, float32 on CPU), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``.
        batch_size: how many prompts run together.
        max_new_tokens: how many tokens each task may generate (default: each task's own limit).
        beam_size: beams of a beam search for every task that decodes deterministically (1: greedy;
            sampled decoding, the temperature fallback and chat stay sampled).
        task_format: how task prompts are written: ``"auto"`` (tags for Qwen-Audio, plain instructions
            for Qwen2-Audio), ``"tags"``, ``"instruct"`` or ``"chat"`` (ChatML; use it with
            Qwen2-Audio-7B-Instruct and other chat models).
    """
    from auricle.checkpoint import load_checkpoint

    folder = _model_folder(name_or_path)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded = load_checkpoint(folder, dtype=dtype, device=device)
    tokenizer = load_tokenizer(folder)
    chat_folder = loaded.folder / CHAT_VARIANT
    chat_model = load_variant(loaded.model, chat_folder) if is_variant(chat_folder) else None
    return AudioModel.from_model(
        loaded.model,
        tokenizer,
        chat_model=chat_model,
        batch_size=batch_size,
        beam_size=beam_size,
        task_format=task_format,
        max_new_tokens=max_new_tokens,
        name=DEFAULT_MODEL if name_or_path is None else str(name_or_path),
    )


class AudioModel:
    """A loaded model and its tokenizer, with one method per task.

    Every task method accepts one audio or a list (batched, ``batch_size`` prompts at a time) and
    returns one result or a list. Audio longer than 30 s is handled: transcription and translation
    cut it at pauses and merge the windows; the other tasks read up to ``max_audio_seconds``
    (default 5 min) as consecutive 30 s spans.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        task_format: str = "auto",
        max_audio_seconds: float = DEFAULT_MAX_SECONDS,
        max_new_tokens: int | None = None,
        name: str | None = None,
        chat_engine: Engine | None = None,
    ) -> None:
        resolve_format(task_format, engine.style)  # fail early on a bad format
        self.engine = engine
        self.chat_engine = engine if chat_engine is None else chat_engine
        self.task_format = task_format
        self.max_audio_seconds = max_audio_seconds
        self.max_new_tokens = max_new_tokens
        self.name = name

    @classmethod
    def from_model(
        cls,
        model: AudioLM,
        tokenizer: Tokenizer,
        *,
        chat_model: AudioLM | None = None,
        batch_size: int = 8,
        beam_size: int = 1,
        **kwargs: Any,
    ) -> AudioModel:
        """Wrap an :class:`AudioLM` already in memory (e.g. freshly trained); ``chat_model``, if
        given, answers chats and ChatML task prompts instead of ``model``."""
        if beam_size < 1:
            raise ConfigError(f"beam_size must be >= 1, got {beam_size}")
        engine = ModelEngine(model, tokenizer, batch_size=batch_size, beam_size=beam_size)
        chat_engine = (
            None
            if chat_model is None
            else ModelEngine(chat_model, tokenizer, batch_size=batch_size, beam_size=beam_size)
        )
        return cls(engine, chat_engine=chat_engine, **kwargs)

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer."""
        return self.engine.tokenizer

    @property
    def prompt_style(self) -> str:
        """``"qwen-audio"`` (v1 tags) or ``"qwen2-audio"``."""
        return self.engine.style

    def __repr__(self) -> str:
        return f"AudioModel({self.name or type(self.engine).__name__!r}, style={self.prompt_style!r})"

    # ------------------------------------------------------------------------------------ helpers
    @staticmethod
    def load_audio(audio: AudioInput) -> np.ndarray:
        """Decode one audio input to 16 kHz mono float32 (raises AudioError)."""
        return load_audio(audio)

    def _inputs(self, audio: AudioArg) -> tuple[list[np.ndarray], bool]:
        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        if not items:
            raise ConfigError("got an empty list of audios")
        return [load_audio(a) for a in items], single

    @property
    def task_engine(self) -> Engine:
        """The engine the task methods use: the chat model's for ``task_format="chat"``."""
        chat = resolve_format(self.task_format, self.engine.style) == "chat"
        return self.chat_engine if chat else self.engine

    @contextlib.contextmanager
    def _batching(self, batch_size: int | None, beam_size: int | None = None) -> Iterator[Engine]:
        """The task engine, its ``batch_size`` and ``beam_size`` set for one call (None: as loaded)."""
        engine = self.task_engine
        changes = {k: v for k, v in (("batch_size", batch_size), ("beam_size", beam_size)) if v is not None}
        for name, value in changes.items():
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        changes = {k: v for k, v in changes.items() if hasattr(engine, k)}
        old = {k: getattr(engine, k) for k in changes}
        for name, value in changes.items():
            setattr(engine, name, value)
        try:
            yield engine
        finally:
            for name, value in old.items():
                setattr(engine, name, value)

    def _run(
        self,
        audio: AudioArg,
        batch_size: int | None,
        fn,
        *,
        generates: bool = True,
        beam_size: int | None = None,
        **kwargs: Any,
    ):
        if generates:
            kwargs["max_new_tokens"] = self.max_new_tokens
        audios, single = self._inputs(audio)
        with self._batching(batch_size, beam_size) as engine:
            results = fn(engine, audios, task_format=self.task_format, **kwargs)
        return results[0] if single else results

    # ------------------------------------------------------------------------------------ tasks
    def transcribe(
        self,
        audio: AudioArg,
        *,
        language: str | None = None,
        word_timestamps: bool = False,
        itn: bool = False,
        batch_size: int | None = None,
        beam_size: int | None = None,
        temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
        compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
        timestamp_window: int = TIMESTAMP_WINDOW,
    ) -> Transcription | list[Transcription]:
        """Speech to text in the spoken language, any length.

        ``language`` (``en zh de es ko fr ja it``) is detected when not given. ``word_timestamps``
        gives every word a start and end (Qwen-Audio SRWT; times the model got wrong are repaired
        and flagged ``Word.repaired``). ``itn`` asks for inverse text normalisation ("twenty" → "20").
        Decoding is greedy, or a beam search with ``beam_size`` beams (default: the model's, set at
        :func:`load`); a window whose text compresses more than ``compression_ratio_threshold``
        (a loop), or runs on past 32 + 20 tokens per second of its audio (30 with word timestamps;
        no such limit when the model was loaded with ``max_new_tokens``), is decoded again by
        seeded sampling at each further ``temperature`` in turn, as Whisper does for loops
        (``temperature=0``: no fallback; ``compression_ratio_threshold=None``: only the run-on test).
        With ``word_timestamps`` and greedy decoding, each chosen timestamp becomes the expected time
        of the model's timestamp distribution within ± ``timestamp_window`` centiseconds of it
        (0: the most likely timestamp; docs/generation.md).
        """
        return self._run(
            audio,
            batch_size,
            _transcribe,
            beam_size=beam_size,
            language=language,
            word_timestamps=word_timestamps,
            itn=itn,
            temperature=temperature,
            compression_ratio_threshold=compression_ratio_threshold,
            timestamp_window=timestamp_window,
        )

    def translate(
        self,
        audio: AudioArg,
        *,
        to: str = "en",
        language: str | None = None,
        batch_size: int | None = None,
        beam_size: int | None = None,
        temperature: float | Sequence[float] = DEFAULT_TEMPERATURES,
        compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
    ) -> Transcription | list[Transcription]:
        """Speech translated into ``to``, any length; ``language`` (spoken) is detected when not given.
        ``beam_size``, ``temperature`` and ``compression_ratio_threshold``: as in :meth:`transcribe`."""
        return self._run(
            audio,
            batch_size,
            _translate,
            beam_size=beam_size,
            to=to,
            language=language,
            temperature=temperature,
            compression_ratio_threshold=compression_ratio_threshold,
        )

    def caption(
        self,
        audio: AudioArg,
        *,
        language: str = "en",
        style: str | None = None,
        audio_language: str | None = None,
        batch_size: int | None = None,
    ) -> Caption | list[Caption]:
        """A one-sentence description of the sound (``style``: ``clotho``, ``audiocaps`` or ``plain``;
        None, the default, is the style the model was trained with: ``plain`` for auricle's own
        models, ``clotho`` for Qwen-Audio).

        ``audio_language``: for speech, its language code, or ``"auto"`` to detect it first (Qwen-Audio
        prompts name the spoken language; auricle-small was trained so and otherwise guesses English);
        None (default) for sounds and music.
        """
        return self._run(
            audio,
            batch_size,
            _caption,
            language=language,
            style=style,
            audio_language=audio_language,
            max_seconds=self.max_audio_seconds,
        )

    def ask(
        self, audio: AudioArg, question: str | Sequence[str], *, batch_size: int | None = None
    ) -> Answer | list[Answer]:
        """Answer a question about the audio; with a list of audios, one question for all or one each.

        The question is plain text: special-token strings or ``<audio>`` tags inside it are never
        interpreted.
        """
        audios, single = self._inputs(audio)
        questions = [question] * len(audios) if isinstance(question, str) else list(question)
        with self._batching(batch_size) as engine:
            results = _ask(
                engine,
                audios,
                questions,
                task_format=self.task_format,
                max_seconds=self.max_audio_seconds,
                max_new_tokens=self.max_new_tokens,
            )
        return results[0] if single else results

    def classify(
        self,
        audio: AudioArg,
        kind: str = "scene",
        *,
        candidates: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> Classification | list[Classification]:
        """Classify the audio: ``kind`` is ``scene``, ``event``, ``emotion`` or ``vocal_sound``.

        Without ``candidates`` the model names the label and ``score`` is the probability of that
        answer; with ``candidates`` it picks among them and ``labels`` ranks all of them (softmax of
        the candidates' sequence log-probabilities).
        """
        if kind not in KINDS:
            raise ConfigError(f"unknown classification kind {kind!r}; valid kinds: {list(KINDS)}")
        return self._run(
            audio, batch_size, _classify, kind=kind, candidates=candidates, max_seconds=self.max_audio_seconds
        )

    def describe_music(self, audio: AudioArg, *, batch_size: int | None = None) -> Caption | list[Caption]:
        """A description of a piece of music: genre, mood, key, tempo and instruments."""
        return self._run(audio, batch_size, _describe_music, max_seconds=self.max_audio_seconds)

    def analyze_music(
        self, audio: AudioArg, *, batch_size: int | None = None
    ) -> NoteAnalysis | list[NoteAnalysis]:
        """Pitch, velocity, instrument and sonic qualities of a music note."""
        return self._run(audio, batch_size, _analyze_music, max_seconds=self.max_audio_seconds)

    def detect_language(
        self, audio: AudioArg, *, batch_size: int | None = None
    ) -> LanguageDetection | list[LanguageDetection]:
        """The spoken language, with a probability per language (first 30 s of the audio)."""
        return self._run(audio, batch_size, detect_languages, generates=False)

    def chat(self, system: str | None = None, **kwargs: Any):
        """A :class:`auricle.chat.ChatSession` with this model; keyword arguments go to it."""
        from auricle.chat import ChatSession

        return ChatSession(self, system, **kwargs)
