"""Translation between the OpenAI wire format and the engine's domain types.

The one place that knows both: how a chat request becomes a
:class:`~reasoning.engine.RunRequest`, and how engine events become stream chunks
and a completion object. Pure functions, no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from reasoning.config import CePOConfig
from reasoning.engine import RunRequest
from reasoning.events import TraceBlock
from reasoning.llm import TokenUsage
from server.protocol import ChatCompletionRequest, usage_dict

ReasoningFormat = Literal["reasoning_content", "think"]
Mode = Literal["verbose", "quiet"]

#: Fields forwarded to every upstream call of a CePO run.
FORWARDED_FIELDS = ("seed", "user")


def run_request(
    parsed: ChatCompletionRequest,
    body: dict[str, Any],
    *,
    upstream_model: str,
    config: CePOConfig,
    deadline: float | None,
    preset: str | None = None,
) -> RunRequest:
    """The engine's view of a ``cepo-*`` chat request."""
    forward = {key: body[key] for key in FORWARDED_FIELDS if body.get(key) is not None}
    return RunRequest(
        model=upstream_model,
        messages=list(body["messages"]),
        config=config,
        answer_max_tokens=parsed.answer_max_tokens,
        stop=parsed.stop_list,
        response_format=parsed.response_format,
        forward=forward,
        deadline=deadline,
        preset=preset,
    )


def render_block(block: TraceBlock) -> str:
    """A verbose trace block as text: a heading line, the step's text, a blank line."""
    return f"### {block.title}\n\n{block.text.strip()}\n\n"


def render_status(text: str) -> str:
    return f"{text}\n"


@dataclass
class ChunkFactory:
    """Builds ``chat.completion.chunk`` objects of one response."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(
        self,
        index: int,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }

    def usage_chunk(self, usage: dict[str, Any], cepo: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
            "cepo": cepo,
        }


def usage_of(usages: list[TokenUsage], answer_usages: list[TokenUsage]) -> dict[str, Any]:
    """The honest usage of a CePO response: every call summed; reasoning = not the answer."""
    total = sum(usages, TokenUsage())
    answer_tokens = sum(u.completion_tokens for u in answer_usages)
    return usage_dict(
        total.prompt_tokens,
        total.completion_tokens,
        reasoning_tokens=max(0, total.completion_tokens - answer_tokens),
        estimated=total.estimated,
    )


def combined_cepo(metadata: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``cepo`` object of a response: one run's metadata, or a list for ``n > 1``."""
    if len(metadata) == 1:
        return metadata[0]
    return {"runs": metadata}


def completion(
    *,
    completion_id: str,
    model: str,
    answers: list[tuple[str, str, str | None]],
    usage: dict[str, Any],
    cepo: dict[str, Any],
    reasoning_format: ReasoningFormat,
) -> dict[str, Any]:
    """The non-streaming response; ``answers`` holds (answer, finish_reason, trace or None)."""
    choices = []
    for index, (answer, finish_reason, trace) in enumerate(answers):
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if trace is not None:
            if reasoning_format == "think":
                message["content"] = f"<think>\n{trace}</think>\n\n{answer}"
            else:
                message["reasoning_content"] = trace
        choices.append({"index": index, "message": message, "finish_reason": finish_reason})
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
        "cepo": cepo,
    }
