"""Token estimates for when an upstream reports no usage.

About four characters a token for English text with the common BPE tokenizers;
an estimate is always flagged as such wherever it is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHARS_PER_TOKEN = 4.0


def estimate_text_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


def estimate_prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Tokens of a chat prompt: message texts plus a few tokens of framing per message."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    total += estimate_text_tokens(part["text"])
        total += 4
    return total
