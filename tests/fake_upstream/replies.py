"""Scripted replies and the fake's token arithmetic.

A token, for the fake, is a whitespace-separated word: prompt tokens are the words of all
message contents, completion tokens the words of the reply text. ``split_tokens`` cuts a text
into pieces that concatenate back to exactly that text, one piece per token, which is what a
stream sends as one chunk each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The default reply's final words; tests and the benchmark look for them.
DEFAULT_ANSWER = "Answer: 42"

_FILLER_SENTENCE = (
    "Let us think step by step about the problem and check each part of the reasoning "
    "before we commit to a final result so that nothing is missed along the way"
)
_FILLER = tuple(_FILLER_SENTENCE.split())

_TOKEN = re.compile(r"\s*\S+\s*")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the fake answers to one request (one choice).

    ``status`` other than 200 answers with an error body in the personality's shape whose
    message is ``text``. ``usage`` replaces the counted usage. ``delay`` replaces the server's
    ``latency`` for this reply. ``reasoning`` is sent in the personality's reasoning field.
    ``tool_calls`` (OpenAI wire shape, whole) are sent in the message, or streamed as
    ``delta.tool_calls`` pieces (the name first, then the arguments in two halves).
    """

    text: str
    finish_reason: str = "stop"
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None


Responder = Callable[[dict[str, Any]], "str | Reply"]


def filler_text(tokens: int) -> str:
    """Deterministic text of exactly ``tokens`` words (at least 2) ending in ``DEFAULT_ANSWER``."""
    tail = DEFAULT_ANSWER.split()
    body_len = max(tokens - len(tail), 0)
    body = [_FILLER[i % len(_FILLER)] for i in range(body_len)]
    return " ".join([*body, *tail])


def default_responder(tokens: int) -> Responder:
    """A responder that answers every request with ``filler_text(tokens)``."""
    text = filler_text(tokens)

    def respond(body: dict[str, Any]) -> str | Reply:
        return text

    return respond


def split_tokens(text: str) -> list[str]:
    """Cut ``text`` into one piece per word, with surrounding whitespace kept.

    ``"".join(split_tokens(t)) == t`` whenever ``t`` contains a word; leading whitespace
    goes with the first piece, trailing whitespace with the last.
    """
    return _TOKEN.findall(text)


def count_tokens(text: str | None) -> int:
    """Words in ``text``."""
    return len(text.split()) if text else 0


def _content_words(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return sum(count_tokens(part.get("text")) for part in content if isinstance(part, Mapping))
    return 0


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Words of all message contents in a chat completion request body."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(_content_words(m.get("content")) for m in messages if isinstance(m, Mapping))


def truncate(text: str, max_tokens: int) -> str:
    """The first ``max_tokens`` words of ``text`` (pieces as ``split_tokens`` cuts them)."""
    return "".join(split_tokens(text)[:max_tokens]).rstrip()
