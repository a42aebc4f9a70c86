"""The client's history as CePO reads it: earlier reasoning left out.

Clients send earlier answers back with their reasoning: a ``reasoning_content`` or
``reasoning`` field on the assistant turn, or ``<think>...</think>`` blocks in its
content (including this proxy's own ``think`` format). That text is the previous run's
trace, not the conversation, so :func:`without_old_reasoning` drops it from every
assistant turn before any prompt is built. Other turns are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reasoning.llm import Message
from reasoning.thinking import CLOSE_TAG, OPEN_TAG, split_thinking

#: Assistant-turn fields that carry a model's reasoning.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def without_old_reasoning(messages: Sequence[Message]) -> list[Message]:
    """``messages`` with the reasoning of assistant turns removed (new dicts where changed)."""
    return [
        _cleaned(message) if message.get("role") == "assistant" else message for message in messages
    ]


def _cleaned(message: Message) -> Message:
    content = message.get("content")
    has_field = any(name in message for name in REASONING_FIELDS)
    new_content = _content_without_thinking(content)
    if not has_field and new_content is content:
        return message
    cleaned = {k: v for k, v in message.items() if k not in REASONING_FIELDS}
    cleaned["content"] = new_content
    return cleaned


def _content_without_thinking(content: Any) -> Any:
    """The content with ``<think>`` blocks cut out; the same object when it has none."""
    if isinstance(content, str):
        return _text_without_thinking(content)
    if isinstance(content, list):
        parts = []
        changed = False
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    new_text = _text_without_thinking(text)
                    if new_text is not text:
                        part = {**part, "text": new_text}
                        changed = True
            parts.append(part)
        return parts if changed else content
    return content


def _text_without_thinking(text: str) -> str:
    if OPEN_TAG not in text and CLOSE_TAG not in text:
        return text
    answer, _ = split_thinking(text)
    return answer
