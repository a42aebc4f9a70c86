"""OpenAI chat completion bodies and stream chunks, as the fake sends them (pure functions)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fake_upstream.personalities import Personality
from tests.fake_upstream.replies import split_tokens


@dataclass(frozen=True, slots=True)
class Choice:
    """One finished choice: final text (already cut to the token limit) and reasoning."""

    text: str
    finish_reason: str
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class CompletionIds:
    """The id, creation time and model shared by every chunk of one completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    ids: CompletionIds,
    choices: list[Choice],
    usage: dict[str, Any],
    personality: Personality,
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object."""
    rendered = []
    for index, choice in enumerate(choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text}
        if choice.reasoning is not None:
            message[personality.reasoning_field] = choice.reasoning
        if choice.tool_calls:
            message["tool_calls"] = choice.tool_calls
            message["content"] = choice.text or None
        rendered.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
        )
    return {
        "id": ids.id,
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "choices": rendered,
        "usage": usage,
    }


def chunk(
    ids: CompletionIds,
    choices: list[dict[str, Any]],
    *,
    with_usage_key: bool,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``usage`` key present (null) when usage was requested."""
    body: dict[str, Any] = {
        "id": ids.id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "choices": choices,
    }
    if with_usage_key:
        body["usage"] = usage
    return body


def delta_choice(
    index: int, delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def stream_deltas(choices: list[Choice], personality: Personality) -> list[list[dict[str, Any]]]:
    """The streamed choice lists, in order: role, reasoning tokens, content tokens, finish.

    Each element is the ``choices`` list of one chunk; with several choices, tokens are sent
    round-robin (one chunk per token of one choice).
    """
    steps: list[list[dict[str, Any]]] = [
        [delta_choice(i, {"role": "assistant", "content": ""})] for i in range(len(choices))
    ]
    per_choice: list[list[dict[str, Any]]] = []
    for choice in choices:
        pieces = [{personality.reasoning_field: t} for t in split_tokens(choice.reasoning or "")]
        pieces += [{"content": t} for t in split_tokens(choice.text)]
        pieces += _tool_call_pieces(choice.tool_calls or [])
        per_choice.append(pieces)
    longest = max((len(p) for p in per_choice), default=0)
    for position in range(longest):
        for index, pieces in enumerate(per_choice):
            if position < len(pieces):
                steps.append([delta_choice(index, pieces[position])])
    steps += [[delta_choice(i, {}, c.finish_reason)] for i, c in enumerate(choices)]
    return steps


def _tool_call_pieces(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stream deltas of whole tool calls: id and name first, then the arguments in halves."""
    pieces: list[dict[str, Any]] = []
    for index, call in enumerate(tool_calls):
        function = call.get("function") or {}
        arguments = str(function.get("arguments") or "")
        half = len(arguments) // 2
        head = {"index": index, "id": call.get("id"), "type": "function"}
        pieces.append(
            {"tool_calls": [{**head, "function": {"name": function.get("name"), "arguments": ""}}]}
        )
        for part in (arguments[:half], arguments[half:]):
            if part:
                pieces.append({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    return pieces


def sse(data: dict[str, Any] | str) -> bytes:
    """One SSE event carrying ``data`` (JSON-encoded unless already a string)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


DONE = b"data: [DONE]\n\n"
