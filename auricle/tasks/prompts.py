"""The prompt of each task for each checkpoint family, always as typed segments.

* ``tags`` (Qwen-Audio, v1): the hierarchical task tags of :func:`auricle.prompt.tags.task_prompt`,
  exactly the official evaluation prompts.
* ``instruct`` (Qwen2-Audio base model): the audio followed by a natural-language instruction, as
  in the Qwen2-Audio model card and evaluation data (``<|audio_bos|><|AUDIO|><|audio_eos|>Generate
  the caption in English:``). The instructions are in :data:`V2_INSTRUCTIONS`.
* ``chat`` (Qwen2-Audio-Instruct, or any chat model): the same instruction as one user turn of the
  ChatML conversation rendered by :func:`auricle.prompt.chatml.render_chat`.

User text (a question) is always a ``Text`` segment: it is encoded as text, never parsed for
special tokens.
"""

from __future__ import annotations

from auricle.errors import ConfigError, PromptError
from auricle.prompt.chatml import render_chat
from auricle.prompt.segments import Audio, PromptStyle, Rendered, Segment, Text
from auricle.prompt.tags import task_prompt
from auricle.tasks.longform import expand_audio_slots

#: How task prompts are written: ``auto`` picks ``tags`` for Qwen-Audio and ``instruct`` for Qwen2-Audio.
TASK_FORMATS: tuple[str, ...] = ("auto", "tags", "instruct", "chat")

#: English names of the languages tasks accept (the Qwen-Audio language tags).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "zh": "Chinese",
    "de": "German",
    "es": "Spanish",
    "ko": "Korean",
    "fr": "French",
    "ja": "Japanese",
    "it": "Italian",
    "zh_tr": "Traditional Chinese",
}

#: Natural-language instructions for Qwen2-Audio (our wording, in the style of its evaluation prompts).
V2_INSTRUCTIONS: dict[str, str] = {
    "asr": "Detect the language and recognize the speech:",
    "s2tt": "Translate the speech into {target}:",
    "caption": "Generate the caption in {output}:",
    "scene": "Classify the acoustic scene in {output}:",
    "event": "Classify the sound event in {output}:",
    "vocal": "Classify the human vocal sound to VocalSound in {output}:",
    "emotion": "Recognize the emotion with keywords in {output}:",
    "note_analysis": "Analyze the music note: give its MIDI pitch, velocity, instrument and sonic qualities.",
    "lid": "Detect the language and recognize the speech:",
}


def check_language(code: str | None, what: str) -> None:
    """Raise ConfigError unless ``code`` is None or a language the tasks know."""
    if code is not None and code not in LANGUAGE_NAMES:
        raise ConfigError(f"{what} {code!r} is not supported; valid codes: {list(LANGUAGE_NAMES)}")


def resolve_format(task_format: str, style: PromptStyle) -> str:
    """The concrete format for ``task_format`` (``auto`` resolved by the prompt style)."""
    if task_format not in TASK_FORMATS:
        raise ConfigError(f"unknown task_format {task_format!r}; valid: {list(TASK_FORMATS)}")
    if task_format == "auto":
        return "tags" if style == "qwen-audio" else "instruct"
    if task_format == "tags" and style != "qwen-audio":
        raise ConfigError(
            "task_format 'tags' needs a Qwen-Audio (v1) vocabulary; Qwen2-Audio has no task tags"
        )
    return task_format


def build_prompt(
    task: str, *, task_format: str, style: PromptStyle, windows: int = 1, **options
) -> list[Segment] | Rendered:
    """The prompt of ``task`` for one audio cut into ``windows`` consecutive spans (``Audio(0..)``).

    ``options`` are those of :func:`auricle.prompt.tags.task_prompt` (``audio_language``,
    ``output_language``, ``timestamps``, ``itn``, ``caption_style``, ``question``).
    """
    fmt = resolve_format(task_format, style)
    slots = [Audio(i) for i in range(windows)]
    if fmt == "tags":
        return slots + task_prompt(task, audio=None, **{k: v for k, v in options.items() if v is not None})
    instruction = _instruction(task, **options)
    if fmt == "instruct":
        return slots + [Text(instruction)]
    messages = [
        {"role": "user", "content": [{"type": "audio", "audio": 0}, {"type": "text", "text": instruction}]}
    ]
    return expand_audio_slots(render_chat(messages, style), [list(range(windows))])


def _instruction(
    task: str,
    *,
    audio_language: str | None = None,
    output_language: str | None = None,
    timestamps: bool = False,
    itn: bool | None = None,
    caption_style: str | None = None,
    question: str | None = None,
) -> str:
    if timestamps:
        raise PromptError("word timestamps need Qwen-Audio's timestamp tokens; Qwen2-Audio has none")
    if task == "aqa":
        if not question:
            raise PromptError("a question is needed")
        return question
    if task not in V2_INSTRUCTIONS:
        raise PromptError(f"task {task!r} has no Qwen2-Audio instruction; tasks: {sorted(V2_INSTRUCTIONS)}")
    target = LANGUAGE_NAMES.get(output_language or "en", "English")
    text = V2_INSTRUCTIONS[task].format(target=target, output=target)
    if task in ("asr", "s2tt") and audio_language:
        text += f" <|{audio_language}|>"  # plain text in v2: the language marker its prompts end with
    return text


def stop_tokens(tokenizer, task_format: str, style: PromptStyle) -> tuple[int, ...] | None:
    """Stop ids for task generation: ``<|endoftext|>`` for tag and instruction prompts, plus the
    ChatML ends for chat prompts; None (the model's own) when the vocabulary lacks them."""
    fmt = resolve_format(task_format, style)
    names = ["<|endoftext|>"] + (["<|im_end|>", "<|im_start|>"] if fmt == "chat" else [])
    if not all(tokenizer.has_special(n) for n in names):
        return None
    return tuple(tokenizer.special_id(n) for n in names)
