"""Separating a model's own thinking from its answer while a stream arrives.

Models such as Qwen3 put their thinking in a leading ``<think>...</think>`` block of
the content. :class:`ThinkSplitter` routes streamed content into thinking and
answer without ever holding back more than a possible partial tag.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


class ThinkSplitter:
    """Feed content pieces; get back ``(answer, thinking)`` pieces.

    Only a ``<think>`` block at the very start of the content (after whitespace)
    counts as thinking, as these models emit it.
    """

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> answer
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, str]:
        text = self._pending + piece
        self._pending = ""
        if self._state == "start":
            stripped = text.lstrip()
            if stripped.startswith(OPEN):
                self._state = "thinking"
                text = stripped[len(OPEN) :]
            elif OPEN.startswith(stripped):
                self._pending = text  # could still become "<think>"
                return "", ""
            else:
                self._state = "answer"
                return text, ""
        if self._state == "thinking":
            end = text.find(CLOSE)
            if end >= 0:
                self._state = "answer"
                return text[end + len(CLOSE) :].lstrip("\n"), text[:end]
            keep = _partial_suffix(text, CLOSE)
            self._pending = text[len(text) - keep :] if keep else ""
            return "", text[: len(text) - keep]
        return text, ""

    def flush(self) -> tuple[str, str]:
        """End of stream: whatever was held back."""
        pending, self._pending = self._pending, ""
        if self._state == "thinking":
            return "", pending
        return pending, ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_complete(text: str) -> tuple[str, str]:
    """``(answer, thinking)`` of a complete content string."""
    splitter = ThinkSplitter()
    answer, thinking = splitter.feed(text)
    rest_answer, rest_thinking = splitter.flush()
    return answer + rest_answer, thinking + rest_thinking
