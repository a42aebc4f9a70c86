"""The client's conversation as the engine sees it: context plus one question.

The system prompt and every turn before the latest user message are kept verbatim
as context; the latest user message is the question. Each step sends the context
followed by one user message holding the step's task (which quotes the question);
the final step sends the question itself, a draft reply and a closing request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reasoning.errors import InvalidConversation
from reasoning.llm import Message


@dataclass(frozen=True, slots=True)
class Conversation:
    """``context``: messages before the question, verbatim. ``question``: its text."""

    context: tuple[Message, ...]
    question: str

    @classmethod
    def from_messages(cls, messages: Sequence[Message]) -> Conversation:
        """Split OpenAI chat messages. Raises :class:`InvalidConversation` when no
        message has role ``user``. Messages after the latest user turn are dropped;
        of list-of-parts content, the text parts are kept.
        """
        for index in range(len(messages) - 1, -1, -1):
            if messages[index].get("role") == "user":
                return cls(tuple(messages[:index]), content_text(messages[index].get("content")))
        raise InvalidConversation("the conversation has no user message to answer")

    def with_task(self, task: str) -> list[Message]:
        """The messages of one step: the context, then ``task`` as the user turn."""
        return [*self.context, {"role": "user", "content": task}]

    def with_draft(self, draft: str, task: str) -> list[Message]:
        """The messages of the final step: the context, the question as the user's
        turn, ``draft`` as the assistant's reply to it, then ``task`` as a user turn."""
        return [
            *self.context,
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": draft},
            {"role": "user", "content": task},
        ]


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return "\n".join(parts)
    return str(content)
