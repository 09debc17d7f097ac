"""Tool definitions (OpenAI function-calling JSON schema) and how they are shown to the model.

A tool is given either as an OpenAI-style dict (``{"type": "function", "function": {"name",
"description", "parameters"}}``, or just the inner ``function`` dict), which the caller executes
itself, or as a :class:`Tool` with a Python handler, which :class:`auricle.chat.ChatSession` runs.

The tool list is written into the system prompt in the Qwen / Hermes function-calling style::

    {system}

    # Tools

    You may call one or more functions to help with the user's request. The functions are
    described as JSON schemas inside <tools></tools>:
    <tools>
    {"type": "function", "function": {"name": "edit_span", ...}}
    </tools>

    To call a function, write a JSON object with its name and arguments inside <tool_call></tool_call>:
    <tool_call>
    {"name": "<function name>", "arguments": {<arguments as a JSON object>}}
    </tool_call>
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auricle.errors import PromptError

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Tool:
    """A function the model may call: name, description, JSON-schema parameters and an optional handler.

    ``handler(**arguments)`` returns a :class:`auricle.tools.ToolResult` (or any JSON-ready value);
    a tool without a handler is only described to the model, and its calls are returned to the
    caller to execute.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    handler: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.replace("_", "").replace("-", "").isalnum():
            raise PromptError(f"tool name must be letters, digits, '_' or '-', got {self.name!r}")
        if not isinstance(self.parameters, dict) or self.parameters.get("type", "object") != "object":
            raise PromptError(f"tool {self.name!r}: parameters must be a JSON schema of type 'object'")

    def definition(self) -> dict[str, Any]:
        """The OpenAI function-calling form of this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def as_tool(spec: Tool | Mapping[str, Any]) -> Tool:
    """A :class:`Tool` from a Tool or an OpenAI-style definition dict (no handler)."""
    if isinstance(spec, Tool):
        return spec
    if not isinstance(spec, Mapping):
        raise PromptError(
            f"a tool must be a Tool or an OpenAI function definition dict, got {type(spec).__name__}"
        )
    fn = spec.get("function", spec) if spec.get("type", "function") == "function" else None
    if not isinstance(fn, Mapping) or "name" not in fn:
        raise PromptError(
            f"tool definition {dict(spec)!r:.200} is not of the form "
            "{'type': 'function', 'function': {'name', 'description', 'parameters'}}"
        )
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    return Tool(str(fn["name"]), str(fn.get("description", "")), dict(params))


def render_tools_system(system: str, tools: Sequence[Tool]) -> str:
    """``system`` followed by the tool list and the call format (see the module docstring)."""
    if not tools:
        return system
    lines = "\n".join(json.dumps(t.definition(), ensure_ascii=False) for t in tools)
    return (
        f"{system}\n\n# Tools\n\n"
        "You may call one or more functions to help with the user's request. The functions are "
        "described as JSON schemas inside <tools></tools>:\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "To call a function, write a JSON object with its name and arguments inside "
        "<tool_call></tool_call>:\n"
        '<tool_call>\n{"name": "<function name>", "arguments": {<arguments as a JSON object>}}\n</tool_call>'
    )


def validate_arguments(schema: Mapping[str, Any], arguments: Any) -> list[str]:
    """Problems of ``arguments`` against an object schema (required, unknown keys, types, enums,
    numeric bounds, array items); empty when they fit. Covers the JSON-schema subset tools use."""
    return _check(schema, arguments, "arguments")


def _check(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, k) for k in kinds):
            return [f"{where} must be of type {' or '.join(kinds)}, got {json.dumps(value)[:60]}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} must be one of {schema['enum']}, got {json.dumps(value)[:60]}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} must be <= {schema['maximum']}, got {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where} must be > {schema['exclusiveMinimum']}, got {value}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where} is missing required {name!r}")
        extra = sorted(set(value) - set(props))
        if extra and not schema.get("additionalProperties", False):  # stricter than JSON schema: tools
            errors.append(f"{where} has unknown keys {extra}; known: {sorted(props)}")
        for name, sub in props.items():
            if name in value:
                errors += _check(sub, value[name], f"{where}.{name}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where} needs at least {schema['minItems']} items, got {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += _check(schema["items"], item, f"{where}[{i}]")
    return errors


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))
