"""The user-facing tasks: transcription, translation, captioning, QA, classification, music, language.

The functions here take an :class:`~auricle.tasks.engine.Engine` and decoded audios; most users call
them through :class:`auricle.api.AudioModel` (``auricle.load(...)``). Results are the typed
dataclasses of :mod:`auricle.tasks.results`; :mod:`auricle.tasks.writers` writes them to files.
"""

from auricle.tasks.results import (
    Answer,
    Caption,
    Classification,
    Event,
    Label,
    LanguageDetection,
    NoteAnalysis,
    Result,
    Segment,
    Transcription,
    Word,
)
from auricle.tasks.writers import FORMATS, ResultWriter, get_writer

__all__ = [
    "FORMATS",
    "Answer",
    "Caption",
    "Classification",
    "Event",
    "Label",
    "LanguageDetection",
    "NoteAnalysis",
    "Result",
    "ResultWriter",
    "Segment",
    "Transcription",
    "Word",
    "get_writer",
]
