"""Multi-turn chat about audio, with streaming and tool use.

>>> session = model.chat(system="You are a helpful assistant.")
>>> session.send("What is said here?", audios=["speech.flac"]).text
>>> for delta in session.send("And in French?", stream=True):
...     print(delta, end="", flush=True)

Prompts are the official chat formats, rendered by :mod:`auricle.prompt.chatml` (Qwen-Audio-Chat's
``make_context`` for v1, the Qwen2-Audio-Instruct template for v2); older turns are dropped when
the conversation no longer fits ``max_window_tokens``, as the official chat does. Every audio of
the history is given to the model each turn; audio longer than 30 s enters as consecutive 30 s
spans, up to ``max_audio_seconds`` per audio.

**Tools.** ``tools`` are OpenAI function definitions or :class:`auricle.tools.Tool` s; they are
listed in the system prompt (format in :mod:`auricle.tools.schema`). When a reply calls tools that
have handlers, the session runs them, adds their results to the conversation as ``tool`` messages
(shown to the model as ``<tool_response>`` blocks in a user turn, with any audio a tool produced
attached so the model can hear it) and lets the model continue, up to ``max_tool_rounds`` times.
When a reply calls a tool that has no handler (one given only as a definition), none of its calls
are run: they are all returned in :attr:`ChatReply.pending_calls`; run them, give the results with
:meth:`ChatSession.add_tool_result`, and call :meth:`ChatSession.respond`.
``audio_tools=True`` adds the built-in audio-editing tools (:mod:`auricle.tools.audio_edit`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auricle.errors import PromptError
from auricle.generate import GenerationConfig, GenerationResult
from auricle.prompt.chatml import DEFAULT_SYSTEM, parse_messages, render_chat
from auricle.prompt.encode import fit_chat_window
from auricle.prompt.segments import TAGS_IN_TEXT
from auricle.prompt.segments import Audio as AudioSlot
from auricle.tasks.engine import Request, output_ids
from auricle.tasks.longform import DEFAULT_MAX_SECONDS, consecutive_windows, expand_audio_slots
from auricle.tasks.srwt import pieces_from_ids
from auricle.tools.audio_edit import AudioWorkspace, audio_editing_tools
from auricle.tools.calls import (
    ToolCall,
    ToolResult,
    parse_tool_calls,
    run_tool_call,
    tool_message,
    tool_messages_as_user,
)
from auricle.tools.schema import Tool, as_tool, render_tools_system

#: Official v1 chat window (``max_window_size``): older turns are dropped beyond it.
MAX_WINDOW_TOKENS = 6144
_SAMPLE_RATE = 16000
_SECONDS_PER_AUDIO_TOKEN = 0.04  # 25 pooled encoder states a second (for fitting the window)


@dataclass
class ChatReply:
    """One assistant turn: its text (tool-call blocks removed), and the tool calls and results of
    every round of the turn."""

    text: str
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    pending_calls: list[ToolCall] = field(default_factory=list)

    @property
    def audios(self) -> list[np.ndarray]:
        """Audios the tools produced in this turn, in order."""
        return [r.audio for r in self.tool_results if r.audio is not None]


class ChatSession:
    """A conversation with a model: history, system prompt, audios, streaming, tools.

    Args:
        model: an :class:`auricle.api.AudioModel`.
        system: the system prompt (default "You are a helpful assistant.").
        tools: tool definitions (OpenAI dicts or :class:`Tool`); see the module docstring.
        audio_tools: add the built-in audio-editing tools.
        generation: generation settings (default: the official chat sampling, top-p 0.5, up to 512
            tokens or the model's ``max_new_tokens``).
        max_audio_seconds: longest audio accepted (longer than 30 s is split into 30 s spans).
        max_tool_rounds: how many times per turn tools may run before the reply is returned as is.
        max_window_tokens: older turns are dropped when the conversation is longer than this.
    """

    def __init__(
        self,
        model,
        system: str | None = None,
        *,
        tools: Sequence[Tool | dict[str, Any]] | None = None,
        audio_tools: bool = False,
        generation: GenerationConfig | None = None,
        max_audio_seconds: float = DEFAULT_MAX_SECONDS,
        max_tool_rounds: int = 4,
        max_window_tokens: int = MAX_WINDOW_TOKENS,
    ) -> None:
        self.model = model
        self.engine = model.chat_engine  # a separate chat model when the package has one
        self.system = DEFAULT_SYSTEM if system is None else system
        self.workspace = AudioWorkspace(self._words)
        self.tools: list[Tool] = [as_tool(t) for t in tools or []]
        if audio_tools:
            self.tools += audio_editing_tools(self.workspace)
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise PromptError(f"tool names must be unique, got {names}")
        self.generation = generation or self._default_generation()
        self.max_audio_seconds = max_audio_seconds
        self.max_tool_rounds = max_tool_rounds
        self.max_window_tokens = max_window_tokens
        self.messages: list[dict[str, Any]] = []
        self.last_reply: ChatReply | None = None

    # ------------------------------------------------------------------------------ state
    @property
    def audios(self) -> list[np.ndarray]:
        """Every audio of the conversation, given or made by tools; audio ``n`` is ``audios[n - 1]``."""
        return self.workspace.audios

    def reset(self) -> None:
        """Forget the conversation and its audios (the system prompt and tools stay)."""
        self.messages.clear()
        self.workspace.clear()
        self.last_reply = None

    def load_history(self, messages: Sequence[dict[str, Any]], audios: Sequence[Any] = ()) -> None:
        """Replace the conversation with an existing one, to continue it with :meth:`respond`.

        ``messages`` are ``user`` and ``assistant`` turns in the form :attr:`messages` holds (content
        a string or a list of ``{"type": "text", "text": …}`` / ``{"type": "audio", "audio": n}``
        items, ``n`` indexing ``audios``), e.g. a conversation a client sent or a manifest's chat.
        The system prompt and tools stay as the session was made; everything is validated before
        the session changes.
        """
        parsed = parse_messages(messages)
        for n, message in enumerate(parsed):
            if message.role == "system":
                raise PromptError("message 0: give the system prompt to chat(system=...), not in the history")
            for item in message.items:
                if isinstance(item, AudioSlot) and item.index >= len(audios):
                    raise PromptError(
                        f"message {n}: audio {item.index} does not exist ({len(audios)} audios given)"
                    )
        loaded = [self.model.load_audio(a) for a in audios]
        for k, audio in enumerate(loaded):
            consecutive_windows(
                audio, max_seconds=self.max_audio_seconds, what=f"audio {k + 1} of the history"
            )
        self.reset()
        for audio in loaded:
            self.workspace.add(audio)
        self.messages = copy.deepcopy(list(messages))

    def add_tool_result(self, call: ToolCall, result: ToolResult | dict[str, Any] | str) -> None:
        """Give the result of a call you ran yourself (then call :meth:`respond`)."""
        if not isinstance(result, ToolResult):
            result = ToolResult(content=result if isinstance(result, dict) else {"result": result})
        self._add_tool_message(call, result)

    # ------------------------------------------------------------------------------ turns
    def send(
        self, text: str | None = None, audios: Sequence[Any] = (), *, stream: bool = False
    ) -> ChatReply | Iterator[str]:
        """Add a user turn (text and/or audios) and get the reply.

        With ``stream=True`` returns an iterator of text deltas (tool-call text included, as the
        model writes it); the full :class:`ChatReply` is then in :attr:`last_reply`.
        """
        if text is not None and not isinstance(text, str):
            raise PromptError(f"text must be a string, got {type(text).__name__}")
        loaded = [self.model.load_audio(a) for a in audios]
        for k, audio in enumerate(loaded):
            consecutive_windows(audio, max_seconds=self.max_audio_seconds, what=f"audio {k + 1} of this turn")
        if not text and not loaded:
            raise PromptError("a turn needs text or at least one audio")
        content: list[dict[str, Any]] = []
        for audio in loaded:
            content.append({"type": "audio", "audio": self.workspace.add(audio) - 1})
        if text:
            content.append({"type": "text", "text": text})
        self.messages.append({"role": "user", "content": content})
        return self.respond(stream=stream)

    def respond(self, *, stream: bool = False) -> ChatReply | Iterator[str]:
        """Generate the assistant's reply to the conversation as it stands (running tools as needed)."""
        if stream:
            return self._turn(streaming=True)
        for _ in self._turn(streaming=False):
            pass
        return self.last_reply

    def _turn(self, streaming: bool) -> Iterator[str]:
        reply = ChatReply(text="", finish_reason="stop")
        self.last_reply = reply
        runnable = {t.name: t for t in self.tools}
        for round_ in range(self.max_tool_rounds + 1):
            request = self._request()
            result: GenerationResult | None = None
            if streaming:
                received = []
                try:
                    for event in self.engine.stream(request, self.generation):
                        if event.delta:
                            received.append(event.delta)
                            yield event.delta
                        if event.result is not None:
                            result = event.result
                finally:
                    if result is None:  # the caller stopped early: keep what was shown
                        self._add_assistant(None, "".join(received))
                        reply.text, reply.finish_reason = "".join(received).strip(), "interrupted"
                if result is None:
                    return
            else:
                result = self.engine.generate([request], self.generation)[0]
            raw = self._add_assistant(result)
            content, calls = parse_tool_calls(raw)
            reply.text, reply.finish_reason = content, result.finish_reason
            if not calls:
                return
            reply.tool_calls += calls
            external = [
                c for c in calls if not c.error and c.name in runnable and runnable[c.name].handler is None
            ]
            if external or round_ == self.max_tool_rounds:
                reply.pending_calls = calls if external else []
                return
            for call in calls:
                res = run_tool_call(call, runnable)
                reply.tool_results.append(res)
                self._add_tool_message(call, res)

    # ------------------------------------------------------------------------------ internals
    def _default_generation(self) -> GenerationConfig:
        tok = self.engine.tokenizer
        stops = tuple(
            tok.special_id(t) for t in ("<|im_end|>", "<|im_start|>", "<|endoftext|>") if tok.has_special(t)
        )
        max_new = getattr(self.model, "max_new_tokens", None) or 512
        return GenerationConfig(
            max_new_tokens=max_new, do_sample=True, top_p=0.5, stop_token_ids=stops or None
        )

    def _words(self, audio: np.ndarray):
        return self.model.transcribe(audio, word_timestamps=True).words

    def _add_assistant(self, result: GenerationResult | None, partial: str = "") -> str:
        """Record an assistant message; returns its text. Timestamps and task tags the model wrote
        are kept as tokens (so the model sees its own words again), everything else as text."""
        if result is None:
            self.messages.append({"role": "assistant", "content": [{"type": "text", "text": partial}]})
            return partial
        ids = output_ids(result)
        items: list[dict[str, Any]] = []
        for p in pieces_from_ids(ids, self.engine.tokenizer):
            if p.kind == "text":
                items.append({"type": "text", "text": p.text})
            elif p.text in TAGS_IN_TEXT:
                items.append({"type": "special", "token": p.text})
        self.messages.append({"role": "assistant", "content": items})
        return result.text if result.text is not None else self.engine.tokenizer.decode(ids)

    def _add_tool_message(self, call: ToolCall, result: ToolResult) -> None:
        msg = tool_message(call, result)
        if result.audio is not None and len(result.audio) <= self.max_audio_seconds * _SAMPLE_RATE:
            msg["audio"] = self._workspace_index(result.audio)
        self.messages.append(msg)

    def _workspace_index(self, audio: np.ndarray) -> int:
        for i, a in enumerate(self.workspace.audios):
            if a is audio:
                return i
        return self.workspace.add(audio) - 1

    def _request(self) -> Request:
        system = render_tools_system(self.system, self.tools)
        messages = [{"role": "system", "content": system}, *tool_messages_as_user(self.messages)]
        per_token = _SECONDS_PER_AUDIO_TOKEN * self.engine.audio_stack
        counts = [max(1, round(len(a) / _SAMPLE_RATE / per_token)) for a in self.audios]
        messages = fit_chat_window(
            messages,
            self.engine.tokenizer,
            counts,
            max_window_tokens=self.max_window_tokens,
            style=self.engine.style,
        )
        rendered = render_chat(messages, self.engine.style)
        windows, groups = [], []
        for audio in self.audios:
            pieces = consecutive_windows(
                audio, max_seconds=max(self.max_audio_seconds, len(audio) / _SAMPLE_RATE)
            )
            groups.append(list(range(len(windows), len(windows) + len(pieces))))
            windows += [w.cut(audio) for w in pieces]
        return Request(expand_audio_slots(rendered, groups), windows)
