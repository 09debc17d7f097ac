"""Read tool calls out of a model reply, robustly; run them; turn results into ``tool`` messages.

A call is ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. The reader accepts what
models really write: a missing closing tag at the end of the reply, a JSON code fence inside the
tags, ``arguments`` given as a JSON string (OpenAI style) or under ``parameters``. A call that
cannot be read does not raise: it becomes a :class:`ToolCall` with ``error`` set, and running it
returns that error as the tool result, so the model can see what went wrong and try again.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auricle.errors import AuricleError
from auricle.tools.schema import Tool, validate_arguments

_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_ids = itertools.count(1)


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for; ``error`` says why it could not be read (then name may be '')."""

    name: str
    arguments: dict[str, Any]
    id: str
    error: str | None = None
    raw: str = ""


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns: JSON-ready ``content`` for the model, an optional edited ``audio``
    (float32, 16 kHz), a one-line ``description`` for people, and ``error`` when it failed."""

    content: dict[str, Any] = field(default_factory=dict)
    audio: np.ndarray | None = None
    description: str = ""
    error: str | None = None

    def message_content(self) -> str:
        """The JSON text sent back to the model as the ``tool`` message content."""
        body = {"error": self.error} if self.error else dict(self.content)
        return json.dumps(body, ensure_ascii=False)


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split a reply into its plain content (tool-call blocks removed, stripped) and its calls."""
    calls = [_read_call(m.group(1)) for m in _CALL.finditer(text)]
    content = _CALL.sub("", text).strip()
    return content, calls


def _read_call(body: str) -> ToolCall:
    raw = body.strip()
    call_id = f"call_{next(_ids)}"
    fenced = _FENCE.match(raw)
    source = fenced.group(1) if fenced else raw
    try:
        data = json.loads(source)
    except json.JSONDecodeError as e:
        return ToolCall(
            "", {}, call_id, f"the tool call is not valid JSON ({e.msg} at char {e.pos}): {raw[:200]}", raw
        )
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return ToolCall(
            "", {}, call_id, 'a tool call must be a JSON object {"name": str, "arguments": {...}}', raw
        )
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            return ToolCall(
                data["name"], {}, call_id, f"the arguments string is not valid JSON ({e.msg})", raw
            )
    if not isinstance(args, dict):
        return ToolCall(data["name"], {}, call_id, "arguments must be a JSON object", raw)
    return ToolCall(data["name"], args, call_id, None, raw)


def run_tool_call(call: ToolCall, tools: Mapping[str, Tool]) -> ToolResult:
    """Execute one call; every failure (unreadable call, unknown tool, bad arguments, an error inside
    the tool) comes back as a :class:`ToolResult` with ``error`` set, never as an exception."""
    if call.error:
        return ToolResult(error=call.error, description=f"unreadable tool call: {call.error}")
    tool = tools.get(call.name)
    if tool is None:
        return ToolResult(error=f"unknown tool {call.name!r}; available tools: {sorted(tools)}")
    if tool.handler is None:
        return ToolResult(error=f"tool {call.name!r} has no handler here; the caller must run it")
    problems = validate_arguments(tool.parameters, call.arguments)
    if problems:
        return ToolResult(error=f"bad arguments for {call.name}: " + "; ".join(problems))
    try:
        out = tool.handler(**call.arguments)
    except (AuricleError, ValueError, TypeError, IndexError, KeyError) as e:
        return ToolResult(error=f"{call.name} failed: {e}")
    if isinstance(out, ToolResult):
        return out
    return ToolResult(content=out if isinstance(out, dict) else {"result": out})


def tool_message(call: ToolCall, result: ToolResult) -> dict[str, Any]:
    """The OpenAI-style ``tool`` message that carries ``result`` back into the conversation."""
    return {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.message_content()}


def tool_messages_as_user(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Conversation messages the ChatML renderers accept: each run of ``tool`` messages becomes one
    user message of ``<tool_response>…</tool_response>`` blocks (the Qwen / Hermes convention). A
    tool message with an ``"audio"`` index gets that audio attached after its block."""
    out: list[dict[str, Any]] = []
    in_run = False
    for msg in messages:
        if msg["role"] != "tool":
            out.append({"role": msg["role"], "content": msg.get("content")})
            in_run = False
            continue
        if not in_run:
            out.append({"role": "user", "content": []})
            in_run = True
        items = out[-1]["content"]
        sep = "\n" if items else ""
        items.append({"type": "text", "text": f"{sep}<tool_response>\n{msg['content']}\n</tool_response>"})
        if msg.get("audio") is not None:
            items.append({"type": "audio", "audio": msg["audio"]})
    return out
