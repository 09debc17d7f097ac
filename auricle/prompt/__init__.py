"""Prompts as typed segments: hierarchical task tags (v1 base), ChatML (v1 and v2 chat), encoding to ids.

    from auricle.prompt import task_prompt, encode_prompt
    segments = task_prompt("asr", audio_language="en")   # [Audio(0), Special('<|startoftranscript|>'), ...]
    enc = encode_prompt(segments, tokenizer, audio_token_counts=[250])

The same renderers build inference prompts and training targets (docs/prompts.md).
"""

from __future__ import annotations

from auricle.prompt.chatml import DEFAULT_SYSTEM, render_chat, render_chat_v1, render_chat_v2
from auricle.prompt.encode import (
    EncodedPrompt,
    encode_example,
    encode_prompt,
    fit_chat_window,
    prompt_style_of,
    render_example,
)
from auricle.prompt.segments import (
    PROMPT_STYLES,
    Audio,
    PromptStyle,
    Rendered,
    Segment,
    Special,
    Text,
    prompt_text,
    segments_from_tagged_text,
)
from auricle.prompt.tags import TAG_TASKS, example_prompt, example_target, task_prompt

__all__ = [
    "DEFAULT_SYSTEM",
    "PROMPT_STYLES",
    "TAG_TASKS",
    "Audio",
    "EncodedPrompt",
    "PromptStyle",
    "Rendered",
    "Segment",
    "Special",
    "Text",
    "encode_example",
    "encode_prompt",
    "example_prompt",
    "example_target",
    "fit_chat_window",
    "prompt_style_of",
    "prompt_text",
    "render_chat",
    "render_chat_v1",
    "render_chat_v2",
    "render_example",
    "segments_from_tagged_text",
    "task_prompt",
]
