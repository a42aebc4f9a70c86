"""Translation between the OpenAI wire format and the engine's domain types.

The one place that knows both: how a chat request becomes a
:class:`~reasoning.engine.RunRequest`, and how engine events become stream chunks
and a completion object. Pure functions, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.config import CePOConfig
from reasoning.engine import RunRequest
from reasoning.events import TraceBlock
from reasoning.llm import TokenUsage
from reasoning.tools import ToolOffer
from reasoning.trace import attempt_noun
from server.conventions import Mode, ReasoningFormat
from server.protocol import ChatCompletionRequest, usage_dict

__all__ = ["Mode", "ReasoningFormat"]

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
    tools: ToolOffer | None = None,
) -> RunRequest:
    """The engine's view of a ``cepo-*`` chat request (``tools``: offered to the answer
    step, see :func:`tool_offer`)."""
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
        tools=tools,
    )


def tool_offer(body: dict[str, Any]) -> ToolOffer | None:
    """The request's tools as the engine offers them (``None`` without tools)."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    parallel = body.get("parallel_tool_calls")
    return ToolOffer(
        tools=tuple(tool for tool in tools if isinstance(tool, dict)),
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=parallel if isinstance(parallel, bool) else None,
    )


def tool_call_deltas(tool_calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Whole tool calls as the ``delta.tool_calls`` list of one stream chunk."""
    return [{"index": index, **dict(call)} for index, call in enumerate(tool_calls)]


def opening_block(config: CePOConfig, preset: str | None) -> str:
    """The first verbose reasoning text, sent as the run starts (before any model call)."""
    named = f" (preset {preset})" if preset else ""
    candidates = "1 candidate" if config.bestofn_n == 1 else f"{config.bestofn_n} candidates"
    return (
        f"### Reasoning with CePO{named}\n\n{candidates}, {config.planning_n} "
        f"{attempt_noun(config)} each (up to {config.planning_m} attempts): "
        + ("plan, execute, refine, answer" if config.plan_step else "solve, refine, answer")
        + (_choosing(config) if config.bestofn_n > 1 else "")
        + ".\n\n"
    )


def _choosing(config: CePOConfig) -> str:
    # the majority rating makes no rating calls: the answers' agreement chooses
    if config.bestofn_rating_type == "majority":
        return ", then choose by agreement"
    return ", then rate and choose"


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
    answers: list[tuple[str, str, str | None, Sequence[Mapping[str, Any]]]],
    usage: dict[str, Any],
    cepo: dict[str, Any],
    reasoning_format: ReasoningFormat,
) -> dict[str, Any]:
    """The non-streaming response; ``answers`` holds (answer, finish_reason, trace or None,
    tool calls). The trace goes in the field ``reasoning_format`` names, or in ``<think>``."""
    choices = []
    for index, (answer, finish_reason, trace, tool_calls) in enumerate(answers):
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if trace is not None:
            if reasoning_format == "think":
                message["content"] = f"<think>\n{trace}</think>\n\n{answer}"
            else:
                message[reasoning_format] = trace
        if tool_calls:
            message["tool_calls"] = [dict(call) for call in tool_calls]
            if not message["content"]:
                message["content"] = None
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
