"""Text side of generation: incremental decoding of one row's ids, stop strings, safe stream deltas.

Decoding is incremental over a small window of ids (the scheme of Hugging Face's text-generation
server): the text of ``ids[prefix:]`` minus the text of ``ids[prefix:read]`` is the new text, and the
window moves on only when that new text is complete. A decode ending in U+FFFD means a multi-byte
UTF-8 character is split across tokens, so it is held back until the next token completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

DecodeFn = Callable[[list[int]], str]

_REPLACEMENT = "\ufffd"


class RowText:
    """The decoded text of one generated sequence, grown one token at a time.

    ``push`` returns True when a stop string was completed by that token; :attr:`stop_at` is then
    the index in :attr:`text` where it begins. :meth:`take_delta` hands out the text that is safe to
    stream: complete characters that cannot turn out to be the start of a stop string.
    """

    def __init__(self, decode_fn: DecodeFn, stop_strings: Sequence[str] = ()) -> None:
        self.decode_fn = decode_fn
        self.stop_strings = [s for s in stop_strings if s]
        self._longest_stop = max((len(s) for s in self.stop_strings), default=0)
        self.ids: list[int] = []
        self.text = ""  # complete text so far
        self.stop_at: int | None = None
        self._prefix = 0  # window start in ids
        self._read = 0  # ids up to here are in `text`
        self._emitted = 0  # characters of `text` already handed out by take_delta

    def push(self, token_id: int, check_stops: bool = True) -> bool:
        """Append one id; return True if it completed a stop string (when ``check_stops``)."""
        self.ids.append(token_id)
        before = self.decode_fn(self.ids[self._prefix : self._read])
        after = self.decode_fn(self.ids[self._prefix :])
        if len(after) <= len(before) or after.endswith(_REPLACEMENT):
            return False  # nothing new yet, or a split multi-byte character: wait for more ids
        old_len = len(self.text)
        self.text += after[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        if check_stops and self.stop_strings:
            return self._find_stop(old_len)
        return False

    def _find_stop(self, old_len: int) -> bool:
        """Earliest stop string that ends in the text added after ``old_len``."""
        best = None
        for s in self.stop_strings:
            i = self.text.find(s, max(0, old_len - len(s) + 1))
            if i >= 0 and (best is None or i < best):
                best = i
        if best is None:
            return False
        self.stop_at = best
        return True

    def take_delta(self, final: str | None = None) -> str:
        """Text not handed out yet. While running, a trailing piece that could begin a stop string is
        held back; pass ``final`` (the row's finished text) to flush everything up to its end."""
        if final is not None:
            end = len(final)
            delta = final[self._emitted : end] if final.startswith(self.text[: self._emitted]) else ""
            self._emitted = max(self._emitted, end)
            return delta
        end = len(self.text) - self._stop_prefix_len()
        delta = self.text[self._emitted : end]
        self._emitted = max(self._emitted, end)
        return delta

    def _stop_prefix_len(self) -> int:
        """Length of the longest suffix of the text that is a proper prefix of some stop string."""
        for n in range(min(self._longest_stop - 1, len(self.text)), 0, -1):
            tail = self.text[-n:]
            if any(s.startswith(tail) for s in self.stop_strings):
                return n
        return 0
