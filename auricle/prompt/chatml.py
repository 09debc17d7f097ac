"""ChatML conversations for Qwen-Audio-Chat (v1, ``make_context``) and Qwen2-Audio-Instruct (v2 template).

Input is a list of OpenAI-style messages::

    [{"role": "system" | "user" | "assistant",
      "content": "text" | [{"type": "audio", "audio": 0}, {"type": "text", "text": "What is it?"}]}]

``audio`` is an index into the request's list of audios. ``{"type": "special", "token": "<|2.33|>"}``
places a task tag or timestamp from trusted data (e.g. a training answer); it is never parsed out of
text. Output is a :class:`Rendered`: the segments and, per segment, whether it is a training target
(the content and ``<|im_end|>`` of every assistant message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auricle.errors import PromptError
from auricle.prompt.segments import (
    TAGS_IN_TEXT,
    Audio,
    PromptStyle,
    Rendered,
    Segment,
    Special,
    Text,
    merge_text,
)
from auricle.tokenizer.specials import IM_END, IM_START

DEFAULT_SYSTEM = "You are a helpful assistant."
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One validated message: its role and its content as segments (Text, Special, Audio)."""

    role: str
    items: tuple[Segment, ...]


def parse_messages(messages: Sequence[dict[str, Any]]) -> list[Message]:
    """Validate OpenAI-style messages into :class:`Message` objects; PromptError names the bad item."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise PromptError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    parsed = []
    for n, msg in enumerate(messages):
        if not isinstance(msg, dict) or set(msg) - {"role", "content"} or "role" not in msg:
            raise PromptError(f"message {n} must be a dict with keys 'role' and 'content', got {msg!r:.200}")
        role = msg["role"]
        if role not in ROLES:
            raise PromptError(f"message {n}: unknown role {role!r}; valid roles: {list(ROLES)}")
        if role == "system" and n != 0:
            raise PromptError(f"message {n}: a system message may only come first")
        parsed.append(Message(role, tuple(_parse_content(msg.get("content"), n))))
    return parsed


def _parse_content(content: Any, n: int) -> Iterable[Segment]:
    if content is None:
        return
    if isinstance(content, str):
        yield Text(content)
        return
    if not isinstance(content, list):
        raise PromptError(
            f"message {n}: content must be a string or a list of items, got {type(content).__name__}"
        )
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" and isinstance(item.get("text"), str):
            yield Text(item["text"])
        elif kind == "audio" and "audio" in item:
            yield Audio(item["audio"])
        elif kind == "special" and item.get("token") in TAGS_IN_TEXT:
            yield Special(item["token"])
        else:
            raise PromptError(
                f"message {n}: bad content item {item!r:.200}; expected {{'type': 'text', 'text': str}}, "
                "{'type': 'audio', 'audio': index} or {'type': 'special', 'token': <task tag or timestamp>}"
            )


def _split_system(messages: list[Message], system: str) -> tuple[tuple[Segment, ...], list[Message]]:
    if messages and messages[0].role == "system":
        return messages[0].items, messages[1:]
    return (Text(system),), messages


def _check_generation(rest: list[Message], add_generation_prompt: bool) -> None:
    if add_generation_prompt and rest and rest[-1].role != "user":
        raise PromptError("add_generation_prompt needs the conversation to end with a user message")


def render_chat_v1(
    messages: Sequence[dict[str, Any]], *, system: str = DEFAULT_SYSTEM, add_generation_prompt: bool = True
) -> Rendered:
    """Qwen-Audio-Chat ChatML, token for token as the official ``make_context``.

    Role names, newlines and contents are separate Text segments because the official code encodes
    them separately (BPE never merges across them). Audio ``k`` of a message is introduced as
    ``Audio {k}:`` with no space, ``k`` restarting at 1 in every message. ``system`` is used when
    the first message is not a system message.
    """
    system_items, rest = _split_system(parse_messages(messages), system)
    _check_generation(rest, add_generation_prompt)
    parts: list[tuple[list[Segment], bool]] = [
        ([Special(IM_START), Text("system"), Text("\n"), *_content_v1(system_items), Special(IM_END)], False)
    ]
    for msg in rest:
        is_answer = msg.role == "assistant"
        parts.append(([Text("\n"), Special(IM_START), Text(msg.role), Text("\n")], False))
        parts.append(([*_content_v1(msg.items), Special(IM_END)], is_answer))
    if add_generation_prompt:
        parts.append(([Text("\n"), Special(IM_START), Text("assistant"), Text("\n")], False))
    return Rendered.join(*parts)


def _content_v1(items: Iterable[Segment]) -> list[Segment]:
    out: list[Segment] = []
    k = 0
    for seg in items:
        if isinstance(seg, Audio):
            k += 1
            out += [Text(f"Audio {k}:"), seg, Text("\n")]
        else:
            out.append(seg)
    # the official code encodes a whole message content in one pass, tags splitting it
    return merge_text(out)


def render_chat_v2(
    messages: Sequence[dict[str, Any]], *, system: str = DEFAULT_SYSTEM, add_generation_prompt: bool = True
) -> Rendered:
    """Qwen2-Audio-Instruct ChatML, string for string as the processor's default chat template.

    Audio ``k`` is written ``Audio {k}: `` (with a space) + the audio + ``\\n``, ``k`` counting over
    the whole conversation. Adjacent text is joined, as the template's string is tokenized in one
    pass; only the boundary between ``assistant\\n`` and a target answer is kept (which changes the
    ids only if an answer starts with a newline).
    """
    parsed = parse_messages(messages)
    _check_generation(parsed[1:] if parsed and parsed[0].role == "system" else parsed, add_generation_prompt)
    parts: list[tuple[list[Segment], bool]] = []
    if not parsed or parsed[0].role != "system":
        parts.append(([Special(IM_START), Text(f"system\n{system}"), Special(IM_END), Text("\n")], False))
    k = 0
    for msg in parsed:
        is_answer = msg.role == "assistant"
        parts.append(([Special(IM_START), Text(f"{msg.role}\n")], False))
        content: list[Segment] = []
        for seg in msg.items:
            if isinstance(seg, Audio):
                k += 1
                content += [Text(f"Audio {k}: "), seg, Text("\n")]
            else:
                content.append(seg)
        parts.append(([*content, Special(IM_END)], is_answer))
        parts.append(([Text("\n")], False))
    if add_generation_prompt:
        parts.append(([Special(IM_START), Text("assistant\n")], False))
    return _merge_same_target(Rendered.join(*parts))


def _merge_same_target(rendered: Rendered) -> Rendered:
    """Join adjacent Text segments that share a target flag."""
    segments: list[Segment] = []
    target: list[bool] = []
    for seg, is_target in zip(rendered.segments, rendered.target):
        if isinstance(seg, Text) and not seg.text:
            continue
        if isinstance(seg, Text) and segments and isinstance(segments[-1], Text) and target[-1] == is_target:
            segments[-1] = Text(segments[-1].text + seg.text)
            continue
        segments.append(seg)
        target.append(is_target)
    return Rendered(tuple(segments), tuple(target))


def render_chat(
    messages: Sequence[dict[str, Any]],
    style: PromptStyle = "qwen-audio",
    *,
    system: str = DEFAULT_SYSTEM,
    add_generation_prompt: bool = True,
) -> Rendered:
    """ChatML for ``style``: :func:`render_chat_v1` (``"qwen-audio"``) or :func:`render_chat_v2`."""
    if style == "qwen-audio":
        return render_chat_v1(messages, system=system, add_generation_prompt=add_generation_prompt)
    if style == "qwen2-audio":
        return render_chat_v2(messages, system=system, add_generation_prompt=add_generation_prompt)
    raise PromptError(f"unknown prompt style {style!r}; valid styles: ['qwen-audio', 'qwen2-audio']")


def conversation_turns(
    messages: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Split messages into the optional system message and turns (a user message + the replies after it)."""
    parse_messages(messages)
    messages = list(messages)
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    turns: list[list[dict[str, Any]]] = []
    for msg in messages[len(head) :]:
        if msg["role"] == "user" or not turns:
            turns.append([msg])
        else:
            turns[-1].append(msg)
    return head, turns
