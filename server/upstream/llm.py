"""The engine's :class:`~reasoning.llm.LLMClient`, implemented over the upstream's HTTP API.

:class:`UpstreamLLM` is shared by the app (it caches the models' context lengths);
:meth:`UpstreamLLM.for_request` gives the engine of one request its client, whose calls carry
that request's context (deadline, priority, forwarded key, stats).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from reasoning.llm import LLMClient, LLMDelta, LLMError, LLMRequest, LLMResponse, TokenUsage
from reasoning.thinking import ThinkingSplitter, split_thinking
from server.metrics import Metrics
from server.request_context import RequestContext
from server.sse_decoder import SSEDecoder
from server.tokens import estimate_prompt_tokens, estimate_text_tokens
from server.upstream.client import UpstreamClient, drain, translate_read_error

_REASONING_KEYS = ("reasoning_content", "reasoning")
#: Seconds before a model list that stated no context length for a model is asked again.
UNSTATED_RECHECK_SECONDS = 60.0


class UpstreamLLM:
    """Chat completions for the engine: one choice, thinking separated, usage always set."""

    def __init__(
        self, client: UpstreamClient, *, metrics: Metrics, fallback_context_length: int
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.fallback_context_length = fallback_context_length
        self._context_lengths: dict[str, int] = {}
        self._unstated: dict[str, float] = {}

    def _body(self, request: LLMRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.extra)
        body["model"] = request.model
        body["messages"] = [dict(m) for m in request.messages]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        body.pop("n", None)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def for_request(self, context: RequestContext) -> LLMClient:
        """The engine's client for the request of ``context``."""
        return _RequestLLM(self, context)

    async def complete(self, request: LLMRequest, context: RequestContext) -> LLMResponse:
        body = self._body(request, stream=False)
        data, _ = await self.client.post_json("chat/completions", body, context)
        try:
            choice = _first_choice(data)
        except LLMError as error:
            raise self.client.redact(error, context) from None
        message = choice.get("message") or {}
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = json.dumps(content)
        answer, thinking = split_thinking(content)
        reasoning = _reasoning_of(message) or thinking
        usage = self._usage(data.get("usage"), request, answer + reasoning, context)
        return LLMResponse(
            text=answer,
            finish_reason=choice.get("finish_reason"),
            reasoning=reasoning,
            usage=usage,
            tool_calls=_tool_calls(message.get("tool_calls")),
        )

    async def stream(
        self, request: LLMRequest, context: RequestContext
    ) -> AsyncIterator[LLMDelta | LLMResponse]:
        body = self._body(request, stream=True)
        decoder = SSEDecoder()
        splitter = ThinkingSplitter()
        calls = _ToolCallAssembler()
        text: list[str] = []
        reasoning: list[str] = []
        finish_reason: str | None = None
        reported: Any = None
        done = False
        saw_choice = False
        async with self.client.stream("chat/completions", body, context) as response:
            chunks = response.aiter_bytes()
            try:
                async for raw in chunks:
                    for event in decoder.feed(raw):
                        if event.data == "[DONE]":
                            done = True
                            break
                        try:
                            chunk = _parse_chunk(event.data)
                        except LLMError as error:
                            raise self.client.redact(error, context) from None
                        if chunk.get("usage"):
                            reported = chunk["usage"]
                        choices = chunk.get("choices") or []
                        if not choices:
                            continue
                        saw_choice = True
                        choice = choices[0]
                        delta = choice.get("delta") or {}
                        if isinstance(delta, dict) and delta.get("tool_calls"):
                            calls.feed(delta["tool_calls"])
                        piece_reasoning = _reasoning_of(delta)
                        content = delta.get("content") or ""
                        answer_piece, thinking_piece = (
                            splitter.feed(content) if content else ("", "")
                        )
                        piece_reasoning += thinking_piece
                        if answer_piece or piece_reasoning:
                            text.append(answer_piece)
                            reasoning.append(piece_reasoning)
                            yield LLMDelta(text=answer_piece, reasoning=piece_reasoning)
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
                    if done:
                        break
            except httpx.HTTPError as error:
                raise translate_read_error(error) from error
            if done:
                await drain(chunks)  # so the connection goes back to the pool
        if not done and finish_reason is None:
            raise LLMError(
                "upstream stream ended before it finished", status=502, code="incomplete_stream"
            )
        if not saw_choice:
            # As for a complete() answer with "choices": []: no answer is not an empty answer.
            raise LLMError("upstream returned no choices", status=502, code="empty_choices")
        tail_answer, tail_thinking = splitter.flush()
        if tail_answer or tail_thinking:
            text.append(tail_answer)
            reasoning.append(tail_thinking)
            yield LLMDelta(text=tail_answer, reasoning=tail_thinking)
        full_text = "".join(text)
        full_reasoning = "".join(reasoning)
        yield LLMResponse(
            text=full_text,
            finish_reason=finish_reason,
            reasoning=full_reasoning,
            usage=self._usage(reported, request, full_text + full_reasoning, context),
            tool_calls=calls.calls(),
        )

    async def context_length(self, model: str, context: RequestContext | None = None) -> int:
        if model not in self._context_lengths:
            unstated_at = self._unstated.get(model)
            if (
                unstated_at is not None
                and time.monotonic() - unstated_at < UNSTATED_RECHECK_SECONDS
            ):
                return self.fallback_context_length
            found: int | None = None
            try:
                listing = await self.client.get_json("models", context)
            except LLMError:
                listing = None
            for card in _cards(listing):
                if card.get("id") == model:
                    found = _context_of(card)
            # Cache a definite answer; a failed probe is retried on the next run, and a model
            # list that states no length is asked again only after a while (not every run:
            # the probe is a round trip on every CePO request's critical path).
            if found is None:
                if listing is not None:
                    self._unstated[model] = time.monotonic()
                return self.fallback_context_length
            self._context_lengths[model] = found
        return self._context_lengths[model]

    def _usage(
        self, reported: Any, request: LLMRequest, produced: str, context: RequestContext
    ) -> TokenUsage:
        if isinstance(reported, dict) and isinstance(reported.get("prompt_tokens"), int):
            usage = TokenUsage(
                int(reported.get("prompt_tokens") or 0),
                int(reported.get("completion_tokens") or 0),
            )
        else:
            usage = TokenUsage(
                estimate_prompt_tokens(request.messages),
                estimate_text_tokens(produced),
                estimated=True,
            )
        self.metrics.record_tokens(usage.prompt_tokens, usage.completion_tokens, context.stats)
        return usage


class _RequestLLM:
    """:class:`UpstreamLLM` for the calls of one request."""

    def __init__(self, llm: UpstreamLLM, context: RequestContext) -> None:
        self._llm = llm
        self._context = context

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await self._llm.complete(request, self._context)

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMDelta | LLMResponse]:
        return self._llm.stream(request, self._context)

    async def context_length(self, model: str) -> int:
        return await self._llm.context_length(model, self._context)


def _first_choice(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise LLMError("upstream answered with something other than a JSON object", status=502)
    if isinstance(data.get("error"), dict | str):
        message = data["error"].get("message") if isinstance(data["error"], dict) else data["error"]
        raise LLMError(f"upstream error: {message}", status=502)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError("upstream returned no choices", status=502, code="empty_choices")
    return choices[0]


def _parse_chunk(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as error:
        raise LLMError("upstream sent a malformed stream chunk", status=502) from error
    if not isinstance(chunk, dict):
        raise LLMError("upstream sent a malformed stream chunk", status=502)
    if "error" in chunk and not chunk.get("choices"):
        inner = chunk["error"]
        message = inner.get("message") if isinstance(inner, dict) else str(inner)
        raise LLMError(f"upstream error mid-stream: {message}", status=502)
    return chunk


def _reasoning_of(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    for key in _REASONING_KEYS:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _tool_calls(value: Any) -> tuple[dict[str, Any], ...]:
    """The well-formed tool calls of a message (``function`` calls with a name)."""
    if not isinstance(value, list):
        return ()
    calls: list[dict[str, Any]] = []
    for call in value:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments if arguments is not None else {})
            calls.append(
                {
                    "id": str(call.get("id") or f"call_{len(calls)}"),
                    "type": "function",
                    "function": {"name": function["name"], "arguments": arguments},
                }
            )
    return tuple(calls)


class _ToolCallAssembler:
    """Whole tool calls from streamed ``delta.tool_calls`` pieces (keyed by ``index``: the
    first piece of a call brings its id and name, later ones more of its arguments)."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, pieces: Any) -> None:
        if not isinstance(pieces, list):
            return
        for piece in pieces:
            if not isinstance(piece, dict):
                continue
            index = piece.get("index")
            key = index if isinstance(index, int) else len(self._calls)
            call = self._calls.setdefault(key, {"id": None, "name": "", "arguments": []})
            if piece.get("id"):
                call["id"] = str(piece["id"])
            function = piece.get("function")
            if isinstance(function, dict):
                if isinstance(function.get("name"), str):
                    call["name"] += function["name"]
                if isinstance(function.get("arguments"), str):
                    call["arguments"].append(function["arguments"])

    def calls(self) -> tuple[dict[str, Any], ...]:
        whole = [
            {
                "id": call["id"] or f"call_{key}",
                "type": "function",
                "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
            }
            for key, call in sorted(self._calls.items())
            if call["name"]
        ]
        return tuple(whole)


def _cards(listing: Any) -> list[dict[str, Any]]:
    if isinstance(listing, dict) and isinstance(listing.get("data"), list):
        return [c for c in listing["data"] if isinstance(c, dict)]
    return []


def _context_of(card: dict[str, Any]) -> int | None:
    for key in ("max_model_len", "context_length", "context_window", "max_context_length"):
        value = card.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = card.get("meta")
    if isinstance(meta, dict):
        for key in ("n_ctx", "n_ctx_train"):
            value = meta.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None
