"""Tools: schema rendering, tool-call parsing, argument checks and the sample-exact audio edits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soxr

from auricle.errors import AudioError, PromptError
from auricle.tasks.results import Word
from auricle.tools import (
    AudioWorkspace,
    Tool,
    ToolCall,
    as_tool,
    audio_editing_tools,
    change_gain,
    change_speed,
    concatenate,
    cut,
    keep,
    mute,
    parse_tool_calls,
    render_tools_system,
    run_tool_call,
    tool_messages_as_user,
    validate_arguments,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


def ramp(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) / n) - 0.5


def test_tools_are_rendered_into_the_system_prompt():
    text = render_tools_system("You are a helpful assistant.", [as_tool(WEATHER)])
    assert text.startswith("You are a helpful assistant.\n\n# Tools\n")
    block = text.split("<tools>\n")[1].split("\n</tools>")[0]
    assert json.loads(block) == WEATHER
    assert '<tool_call>\n{"name": "<function name>", "arguments":' in text
    assert render_tools_system("sys", []) == "sys"
    with pytest.raises(PromptError):
        as_tool({"type": "function", "function": {"description": "no name"}})


def test_parse_tool_calls_robustly():
    content, calls = parse_tool_calls(
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        '<tool_call>```json\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}\n```</tool_call>'
        '<tool_call>{"name": "get_weather", "arguments": {"city": '
    )
    assert content == "Sure."
    assert [(c.name, c.arguments, c.error) for c in calls[:2]] == [
        ("get_weather", {"city": "Paris"}, None),
        ("get_weather", {"city": "Oslo"}, None),
    ]
    assert calls[2].error and "not valid JSON" in calls[2].error  # unclosed and cut off: an error, no crash
    assert len({c.id for c in calls}) == 3
    assert parse_tool_calls("no calls here") == ("no calls here", [])
    (bad,) = parse_tool_calls("<tool_call>[1, 2]</tool_call>")[1]
    assert "JSON object" in bad.error


def test_run_tool_call_reports_every_failure_as_a_result():
    tools = {
        "get_weather": Tool(
            "get_weather", "w", WEATHER["function"]["parameters"], lambda city, unit="c": {"t": 21}
        )
    }
    ok = run_tool_call(ToolCall("get_weather", {"city": "Paris"}, "1"), tools)
    assert ok.content == {"t": 21} and ok.error is None
    for call, expected in [
        (ToolCall("nope", {}, "2"), "unknown tool 'nope'"),
        (ToolCall("get_weather", {}, "3"), "missing required 'city'"),
        (ToolCall("get_weather", {"city": 3}, "4"), "must be of type string"),
        (ToolCall("get_weather", {"city": "x", "unit": "k"}, "5"), "must be one of"),
        (ToolCall("get_weather", {"city": "x", "zip": 1}, "6"), "unknown keys ['zip']"),
        (ToolCall("", {}, "7", error="broken"), "broken"),
    ]:
        res = run_tool_call(call, tools)
        assert expected in res.error
        assert json.loads(res.message_content()) == {"error": res.error}


def test_validate_arguments():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1},
            "xs": {"type": "array", "items": {"type": "number"}, "minItems": 1},
        },
        "required": ["n"],
    }
    assert validate_arguments(schema, {"n": 2, "xs": [1, 2.5]}) == []
    assert validate_arguments(schema, {"n": 2.0}) == []  # an integral float is an integer
    assert validate_arguments(schema, {"n": True}) != []
    assert validate_arguments(schema, {"n": 0}) == ["arguments.n must be >= 1, got 0"]
    assert validate_arguments(schema, {"n": 1, "xs": []}) == ["arguments.xs needs at least 1 items, got 0"]
    assert validate_arguments(schema, {"n": 1, "xs": ["a"]})[0].startswith(
        "arguments.xs[0] must be of type number"
    )


def test_tool_messages_become_user_turns():
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "<tool_call>…</tool_call>"},
        {"role": "tool", "tool_call_id": "a", "name": "f", "content": '{"x": 1}'},
        {"role": "tool", "tool_call_id": "b", "name": "g", "content": '{"y": 2}', "audio": 3},
    ]
    out = tool_messages_as_user(msgs)
    assert out[2] == {
        "role": "user",
        "content": [
            {"type": "text", "text": '<tool_response>\n{"x": 1}\n</tool_response>'},
            {"type": "text", "text": '\n<tool_response>\n{"y": 2}\n</tool_response>'},
            {"type": "audio", "audio": 3},
        ],
    }


def test_edits_are_sample_exact():
    a = ramp(16000)
    assert np.array_equal(cut(a, 0.25, 0.5), np.concatenate([a[:4000], a[8000:]]))
    assert np.array_equal(keep(a, 0.25, 0.5), a[4000:8000])
    muted = mute(a, 0.25, 0.5)
    assert (
        np.array_equal(muted[:4000], a[:4000])
        and not muted[4000:8000].any()
        and np.array_equal(muted[8000:], a[8000:])
    )
    assert np.array_equal(concatenate([a, a[:10]]), np.concatenate([a, a[:10]]))
    assert np.array_equal(change_gain(a, -6.0), np.clip(a * np.float32(10 ** (-6 / 20)), -1, 1))
    assert np.abs(change_gain(a, 40.0)).max() == 1.0
    fast = change_speed(a, 2.0)
    assert np.array_equal(fast, soxr.resample(a, 32000, 16000).astype(np.float32)) and len(fast) == 8000
    assert len(change_speed(a, 0.5)) == 32000
    assert np.array_equal(cut(a, 0.9, 5.0), a[:14400])  # times past the end are clamped
    with pytest.raises(AudioError):
        cut(a, 0.5, 0.25)
    with pytest.raises(AudioError):
        change_speed(a, 10)
    with pytest.raises(AudioError):
        keep(a, 2.0, 3.0)


def test_workspace_tools_by_time_and_by_word():
    a = ramp(32000)
    words = [Word("one", 0.1, 0.5), Word("two", 0.5, 1.2), Word("three", 1.3, 1.9)]
    ws = AudioWorkspace(lambda audio: words)
    ws.add(a)
    tools = {t.name: t for t in audio_editing_tools(ws)}
    res = run_tool_call(ToolCall("edit_words", {"audio": 1, "action": "cut", "first_word": 2}, "1"), tools)
    assert res.error is None and res.content["audio"] == 2
    assert np.array_equal(res.audio, np.concatenate([a[:8000], a[19200:]])) and ws.get(2) is res.audio
    res = run_tool_call(
        ToolCall("edit_span", {"audio": 2, "action": "keep", "start": 0, "end": 0.5}, "2"), tools
    )
    assert np.array_equal(res.audio, ws.get(2)[:8000]) and res.content["duration"] == 0.5
    res = run_tool_call(ToolCall("concatenate", {"audios": [3, 1]}, "3"), tools)
    assert np.array_equal(res.audio, np.concatenate([ws.get(3), a]))
    res = run_tool_call(ToolCall("word_timestamps", {"audio": 1}, "4"), tools)
    assert res.content["words"][2] == {"index": 3, "word": "three", "start": 1.3, "end": 1.9}
    res = run_tool_call(
        ToolCall("edit_words", {"audio": 1, "action": "mute", "first_word": 2, "last_word": 9}, "5"), tools
    )
    assert "words 1 to 3" in res.error
    res = run_tool_call(ToolCall("change_gain", {"audio": 9, "gain_db": 3}, "6"), tools)
    assert "no audio 9" in res.error
