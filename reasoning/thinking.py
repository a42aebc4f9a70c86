"""Separating a model's own thinking from its answer.

Models such as Qwen3 or DeepSeek-R1 served behind a plain chat template put their
thinking in the content as ``<think>...</think>``. Three shapes are recognised:

* closed blocks anywhere: ``<think>a</think>answer`` (several blocks are joined);
* an unclosed leading block (the token limit cut the thinking off):
  ``<think>still thinking`` - all of it is thinking and the answer is empty;
* a missing opening tag (the template already emitted ``<think>``):
  ``thinking</think>answer`` - everything before the first ``</think>`` is thinking.

:func:`split_thinking` handles a whole text; :class:`ThinkingSplitter` does the same
for a stream of pieces whose tags may be split anywhere.
"""

from __future__ import annotations

import re

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_thinking(text: str) -> tuple[str, str]:
    """Return ``(answer, thinking)`` for ``text``; both stripped of surrounding space.

    Text with no tags is all answer. See the module docstring for the shapes handled.
    """
    thoughts: list[str] = []
    open_at = text.find(OPEN_TAG)
    close_at = text.find(CLOSE_TAG)
    if close_at != -1 and (open_at == -1 or close_at < open_at):
        thoughts.append(text[:close_at])
        text = text[close_at + len(CLOSE_TAG) :]

    def keep(match: re.Match[str]) -> str:
        thoughts.append(match.group(1))
        return ""

    answer = _BLOCK.sub(keep, text)
    stripped = answer.lstrip()
    if stripped.startswith(OPEN_TAG):  # unclosed leading block
        thoughts.append(stripped[len(OPEN_TAG) :])
        answer = ""
    thinking = "\n\n".join(part.strip() for part in thoughts if part.strip())
    return answer.strip(), thinking


class ThinkingSplitter:
    """Incremental :func:`split_thinking` for streamed content.

    :meth:`feed` takes the next piece of content and returns ``(answer, thinking)``
    text that is now certain; a possible partial tag is held back until the next
    piece or :meth:`flush`. Only a block opened before any answer text counts as
    thinking (``<think>`` later in an answer is left as text). A stream cannot be held
    back waiting for a ``</think>`` that may never come, so the missing-opening-tag
    shape is handled only with ``expect_thinking=True`` (the upstream is known to
    start in thinking).
    """

    def __init__(self, *, expect_thinking: bool = False) -> None:
        self._buffer = ""
        self._in_thinking = expect_thinking
        self._seen_answer = False

    def feed(self, piece: str) -> tuple[str, str]:
        """Consume ``piece``; return the answer and thinking text it settles."""
        self._buffer += piece
        answer: list[str] = []
        thinking: list[str] = []
        while self._buffer:
            if self._in_thinking:
                end = self._buffer.find(CLOSE_TAG)
                if end == -1:
                    keep = _partial_suffix(self._buffer, CLOSE_TAG)
                    thinking.append(self._buffer[: len(self._buffer) - keep])
                    self._buffer = self._buffer[len(self._buffer) - keep :]
                    break
                thinking.append(self._buffer[:end])
                self._buffer = self._buffer[end + len(CLOSE_TAG) :].lstrip()
                self._in_thinking = False
                continue
            if self._seen_answer:
                answer.append(self._buffer)
                self._buffer = ""
                break
            stripped = self._buffer.lstrip()
            if not stripped:
                break  # leading whitespace: wait to see what follows
            if stripped.startswith(OPEN_TAG):
                self._buffer = stripped[len(OPEN_TAG) :]
                self._in_thinking = True
                continue
            if OPEN_TAG.startswith(stripped):
                break  # could still become "<think>"
            self._seen_answer = True
            answer.append(stripped)
            self._buffer = ""
        return "".join(answer), "".join(thinking)

    def flush(self) -> tuple[str, str]:
        """Release whatever is held back, at the end of the stream."""
        rest, self._buffer = self._buffer, ""
        if self._in_thinking:
            return "", rest
        return (rest if self._seen_answer else rest.strip()), ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
