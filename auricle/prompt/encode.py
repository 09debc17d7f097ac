"""Segments to token ids: text encoded as text, specials by name, audio slots expanded to placeholders.

This is the only place where audio placeholders are written, so audio can never come from text::

    enc = encode_prompt(task_prompt("asr", audio_language="en"), tok, audio_token_counts=[250])
    enc.ids[enc.audio_spans[0][0] : enc.audio_spans[0][1]]  # <audio>, 250 x pad, </audio>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auricle.data.manifest import Example
from auricle.errors import PromptError
from auricle.prompt.chatml import conversation_turns, render_chat
from auricle.prompt.segments import Audio, PromptStyle, Rendered, Segment, Special, Text, check_style
from auricle.prompt.tags import example_prompt, example_target
from auricle.tokenizer.base import Tokenizer
from auricle.tokenizer.specials import AUDIO_BOS, AUDIO_END, AUDIO_EOS, AUDIO_PAD, AUDIO_START, AUDIO_TOKEN


@dataclass(frozen=True)
class EncodedPrompt:
    """Token ids of a prompt and where the audio goes.

    ``audio_spans[j] = (start, end)`` (end exclusive) are the positions the model fills for the
    j-th audio slot, which holds audio ``audio_indices[j]`` of the request. qwen-audio style: the
    whole ``<audio>`` + N pads + ``</audio>`` range (N + 2 positions; the model writes its learned
    audio-bos/eos embeddings over the first and last and the N encoder frames between).
    qwen2-audio style: only the N ``<|AUDIO|>`` positions (``<|audio_bos|>`` / ``<|audio_eos|>``
    around them keep their ordinary embeddings). ``target_mask[i]`` says whether ``ids[i]`` is a
    training target; ``None`` when the prompt had no target flags.
    """

    ids: list[int]
    audio_spans: list[tuple[int, int]]
    audio_indices: list[int]
    target_mask: list[bool] | None = None

    @property
    def audio_end(self) -> int:
        """Ids up to the end of the last audio span (0 without audio): what examples of one audio share."""
        return max((end for _, end in self.audio_spans), default=0)


def prompt_style_of(tokenizer: Tokenizer) -> PromptStyle:
    """The audio placeholder style a vocabulary supports (v1 pads win when it has both)."""
    if tokenizer.has_special(AUDIO_PAD) and tokenizer.has_special(AUDIO_START):
        return "qwen-audio"
    if tokenizer.has_special(AUDIO_TOKEN):
        return "qwen2-audio"
    raise PromptError(
        f"{tokenizer!r} has neither {AUDIO_PAD!r} (Qwen-Audio) nor {AUDIO_TOKEN!r} (Qwen2-Audio)"
    )


def encode_prompt(
    prompt: Sequence[Segment] | Rendered,
    tokenizer: Tokenizer,
    audio_token_counts: Sequence[int] = (),
    style: PromptStyle | None = None,
) -> EncodedPrompt:
    """Encode segments into ids; ``audio_token_counts[i]`` = encoder frames N of audio ``i``.

    Each Text segment is encoded on its own with special tokens disabled; Special segments by
    :meth:`Tokenizer.special_id`; ``Audio(i)`` expands to its placeholders (see
    :class:`EncodedPrompt`). ``style`` defaults to the one the vocabulary supports.
    """
    if isinstance(prompt, Rendered):
        segments, flags = list(prompt.segments), list(prompt.target)
    else:
        segments, flags = list(prompt), None
    style = style or prompt_style_of(tokenizer)
    check_style(style)
    if style == "qwen-audio":
        open_id, fill_id, close_id = (tokenizer.special_id(t) for t in (AUDIO_START, AUDIO_PAD, AUDIO_END))
    else:
        open_id, fill_id, close_id = (tokenizer.special_id(t) for t in (AUDIO_BOS, AUDIO_TOKEN, AUDIO_EOS))
    ids: list[int] = []
    mask: list[bool] = []
    spans: list[tuple[int, int]] = []
    indices: list[int] = []
    for n, seg in enumerate(segments):
        start = len(ids)
        if isinstance(seg, Text):
            ids += tokenizer.encode_text(seg.text)
        elif isinstance(seg, Special):
            ids.append(tokenizer.special_id(seg.token))
        elif isinstance(seg, Audio):
            count = _audio_count(seg.index, audio_token_counts)
            ids += [open_id] + [fill_id] * count + [close_id]
            spans.append((start, len(ids)) if style == "qwen-audio" else (start + 1, len(ids) - 1))
            indices.append(seg.index)
        else:
            raise PromptError(f"segment {n} is {seg!r}; a prompt holds only Text, Special and Audio segments")
        if flags is not None:
            mask += [flags[n]] * (len(ids) - start)
    return EncodedPrompt(ids, spans, indices, mask if flags is not None else None)


def _audio_count(index: int, counts: Sequence[int]) -> int:
    if index >= len(counts):
        raise PromptError(
            f"the prompt uses audio {index} but audio_token_counts has {len(counts)} entries; "
            "pass the encoder frame count of every audio of the request"
        )
    count = counts[index]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise PromptError(f"audio_token_counts[{index}] must be a positive int, got {count!r}")
    return count


def render_example(
    example: Example, style: PromptStyle = "qwen-audio", *, itn: bool | None = None
) -> Rendered:
    """A manifest example as a training sequence: tag prompt + target, or ChatML for ``chat``.

    Tag tasks exist only in the qwen-audio style (Qwen2-Audio has no task tags).
    """
    check_style(style)
    if example.task == "chat":
        if not example.messages:
            raise PromptError(f"example {example.id!r}: chat needs 'messages'")
        return render_chat(example.messages, style, add_generation_prompt=False)
    if style != "qwen-audio":
        raise PromptError(f"task {example.task!r} uses Qwen-Audio task tags; the {style} style has none")
    return Rendered.join((example_prompt(example, itn=itn), False), (example_target(example, itn=itn), True))


def encode_example(
    example: Example,
    tokenizer: Tokenizer,
    audio_token_counts: Sequence[int],
    style: PromptStyle | None = None,
    *,
    itn: bool | None = None,
) -> EncodedPrompt:
    """:func:`render_example` then :func:`encode_prompt`: ids, audio spans and the loss mask."""
    style = style or prompt_style_of(tokenizer)
    return encode_prompt(render_example(example, style, itn=itn), tokenizer, audio_token_counts, style)


def fit_chat_window(
    messages: Sequence[dict[str, Any]],
    tokenizer: Tokenizer,
    audio_token_counts: Sequence[int],
    *,
    max_window_tokens: int = 6144,
    style: PromptStyle | None = None,
) -> list[dict[str, Any]]:
    """Drop the oldest turns until the conversation fits, as the official ``make_context`` does.

    Turns (a user message and its replies) are kept newest first while ``system + turn +
    kept < max_window_tokens``; the last turn and the system message are always kept. Audio
    spans count at their full size.
    """
    style = style or prompt_style_of(tokenizer)
    head, turns = conversation_turns(messages)

    def length(msgs: list[dict[str, Any]]) -> int:
        rendered = render_chat(msgs, style, add_generation_prompt=False)
        return len(encode_prompt(rendered.segments, tokenizer, audio_token_counts, style).ids)

    base = length(head)
    kept: list[list[dict[str, Any]]] = []
    used = 0
    for turn in reversed(turns[:-1]):
        size = length(head + turn) - base
        if base + size + used >= max_window_tokens:
            break
        kept.insert(0, turn)
        used += size
    return head + [m for turn in kept + turns[-1:] for m in turn]
