"""Deterministic synthetic multi-task corpus: speech (espeak-ng, Festival, flite) with exact word
times, translations, sound events and scenes, notes, music and songs, with augmentation.

Entry points: :func:`generate_corpus` with a :class:`SynthConfig`, or ``auricle data synth``.
"""

from auricle.data.synth.generate import CorpusSummary, SynthConfig, generate_corpus

__all__ = ["CorpusSummary", "SynthConfig", "generate_corpus"]
