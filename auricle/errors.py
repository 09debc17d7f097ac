"""The exceptions auricle raises for bad input. Each says what was given, what is valid, what to do."""

from __future__ import annotations


class AuricleError(Exception):
    """Base class of every error auricle raises on purpose."""


class AudioError(AuricleError, ValueError):
    """Audio could not be read or is unusable (missing, corrupt, empty, NaN/inf, unsupported)."""


class CheckpointError(AuricleError, ValueError):
    """A checkpoint folder is missing files or tensors, or does not match the config."""


class PromptError(AuricleError, ValueError):
    """A task request or conversation cannot be rendered into a prompt."""


class ConfigError(AuricleError, ValueError):
    """An unknown preset or an invalid configuration field."""
