"""Tool use in chat: tool definitions, tool-call parsing and execution, built-in audio-editing tools.

>>> from auricle.tools import AudioWorkspace, audio_editing_tools
>>> session = model.chat(tools=audio_editing_tools(AudioWorkspace(words_fn)))

The formats are documented in :mod:`auricle.tools.schema` (how tools are shown to the model) and
:mod:`auricle.tools.calls` (how calls are read and results returned).
"""

from auricle.tools.audio_edit import (
    AudioWorkspace,
    audio_editing_tools,
    change_gain,
    change_speed,
    concatenate,
    cut,
    keep,
    mute,
)
from auricle.tools.calls import (
    ToolCall,
    ToolResult,
    parse_tool_calls,
    run_tool_call,
    tool_message,
    tool_messages_as_user,
)
from auricle.tools.schema import Tool, as_tool, render_tools_system, validate_arguments

__all__ = [
    "AudioWorkspace",
    "Tool",
    "ToolCall",
    "ToolResult",
    "as_tool",
    "audio_editing_tools",
    "change_gain",
    "change_speed",
    "concatenate",
    "cut",
    "keep",
    "mute",
    "parse_tool_calls",
    "render_tools_system",
    "run_tool_call",
    "tool_message",
    "tool_messages_as_user",
    "validate_arguments",
]
