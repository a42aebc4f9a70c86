"""Requests for plain model names: sent upstream as they came, answered as they went.

The only changes ever made (the README lists them): the per-kind fixes of
:mod:`server.upstream.fixes`; splitting ``n > 1`` into single calls for upstreams
that ignore ``n`` and merging their choices; adding a usage chunk when the client
asked for one (``stream_options.include_usage``) and the upstream sent none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx

from reasoning.llm import LLMError
from server.errors import ProxyError, first_error, from_llm_error
from server.protocol import ChatCompletionRequest, usage_dict
from server.sse_decoder import SSEDecoder
from server.streaming import sse_bytes
from server.tokens import estimate_prompt_tokens, estimate_text_tokens
from server.upstream.client import UpstreamClient, drain, translate_read_error
from server.upstream.fixes import single_choice, split_count

Emit = Callable[[bytes], Awaitable[None]]
PATH = "chat/completions"


async def complete(
    upstream: UpstreamClient, body: dict[str, Any]
) -> tuple[dict[str, Any], bytes | None]:
    """A non-streaming pass-through: the answer, and the upstream's own bytes of it when
    they are the answer as it is (one call; ``None`` when several calls were merged).
    Raises :class:`LLMError`."""
    calls = split_count(body, upstream.kind)
    if calls == 1:
        data, content = await upstream.post_json(PATH, body)
        if not isinstance(data, dict):
            raise LLMError("upstream answered with something other than a JSON object", status=502)
        _count_tokens(upstream, body, data)
        return data, content
    single = single_choice(body)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(upstream.post_json(PATH, single)) for _ in range(calls)]
    except ExceptionGroup as group_error:
        raise first_error(group_error) from None
    parts = [task.result()[0] for task in tasks]
    for part in parts:
        _count_tokens(upstream, single, part)
    return merge_completions(parts), None


def _count_tokens(upstream: UpstreamClient, body: dict[str, Any], data: Any) -> None:
    """Count one answer's tokens in the metrics: the upstream's usage, else an estimate."""
    if not isinstance(data, dict):
        return
    usage = data.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        upstream.metrics.record_tokens(
            usage["prompt_tokens"], int(usage.get("completion_tokens") or 0)
        )
        return
    produced = ""
    for choice in data.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            produced += message["content"]
    messages = body.get("messages")
    prompt = 0
    if isinstance(messages, list):
        prompt = estimate_prompt_tokens(m for m in messages if isinstance(m, dict))
    upstream.metrics.record_tokens(prompt, estimate_text_tokens(produced))


def merge_completions(parts: list[Any]) -> dict[str, Any]:
    """One response with the choices of several single-choice responses, usage summed."""
    if not parts or not all(isinstance(p, dict) for p in parts):
        raise LLMError("upstream answered with something other than a JSON object", status=502)
    merged = dict(parts[0])
    choices: list[Any] = []
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    usage_seen = False
    for part in parts:
        for choice in part.get("choices") or []:
            if isinstance(choice, dict):
                choices.append({**choice, "index": len(choices)})
        usage = part.get("usage")
        if isinstance(usage, dict):
            usage_seen = True
            for key in totals:
                value = usage.get(key)
                if isinstance(value, int):
                    totals[key] += value
    merged["choices"] = choices
    if usage_seen:
        # The prompt was processed once per call and is billed as such.
        merged["usage"] = totals
    return merged


async def open_stream(
    upstream: UpstreamClient,
    body: dict[str, Any],
    request: ChatCompletionRequest,
    resources: AsyncExitStack,
) -> Callable[[Emit], Awaitable[None]]:
    """Open the upstream stream(s) now, so that HTTP errors keep their status.

    Returns the producer that relays the stream(s); the opened responses are
    registered on ``resources`` and closed when the client's response ends.
    """
    calls = split_count(body, upstream.kind)
    if calls == 1:
        response = await resources.enter_async_context(upstream.stream(PATH, body))
        return _Relay(response, request, upstream).run
    single = single_choice(body)
    responses = [
        await resources.enter_async_context(upstream.stream(PATH, single)) for _ in range(calls)
    ]
    return _MergedRelay(responses, request, upstream).run


class _Relay:
    """Relays one upstream stream, event by event, data unchanged."""

    def __init__(
        self, response: httpx.Response, request: ChatCompletionRequest, upstream: UpstreamClient
    ) -> None:
        self.response = response
        self.request = request
        self.upstream = upstream
        self.usage_seen = False
        self.usage: dict[str, Any] | None = None
        self.finished = False
        self.produced_chars = 0

    async def run(self, emit: Emit) -> None:
        done = False
        batches = _event_batches(self.response, self.upstream)
        try:
            async for batch in batches:
                relayed: list[bytes] = []
                for data in batch:
                    if data == "[DONE]":
                        done = True
                        break
                    self._observe(data)
                    relayed.append(sse_bytes(data))
                if relayed:
                    # Events that arrived in one read leave in one write (one send per event
                    # costs a syscall each; a paced upstream sends one event per read anyway).
                    await emit(b"".join(relayed))
                if done:
                    break
            if done:
                await drain(batches)  # so the connection goes back to the pool
        finally:
            await batches.aclose()
        if not done and not self.finished:
            raise LLMError(
                "upstream stream ended before it finished", status=502, code="incomplete_stream"
            )
        self.count_tokens()
        if self.request.wants_usage_chunk and not self.usage_seen:
            await emit(sse_bytes(self._estimated_usage_chunk()))

    def count_tokens(self) -> None:
        """Count the stream's tokens in the metrics: the upstream's usage, else an estimate."""
        usage = self.usage
        if usage is not None and isinstance(usage.get("prompt_tokens"), int):
            prompt, completion = usage["prompt_tokens"], int(usage.get("completion_tokens") or 0)
        else:
            estimated = self._estimated_usage_chunk()["usage"]
            prompt, completion = estimated["prompt_tokens"], estimated["completion_tokens"]
        self.upstream.metrics.record_tokens(prompt, completion)

    def _observe(self, data: str) -> None:
        try:
            chunk = json.loads(data)
        except ValueError:
            return
        if not isinstance(chunk, dict):
            return
        if chunk.get("usage"):
            self.usage_seen = True
            if isinstance(chunk["usage"], dict):
                self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                self.finished = True
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning_content", "reasoning"):
                value = delta.get(key) if isinstance(delta, dict) else None
                if isinstance(value, str):
                    self.produced_chars += len(value)

    def _estimated_usage_chunk(self) -> dict[str, Any]:
        prompt = estimate_prompt_tokens(m.model_dump() for m in self.request.messages)
        completion = estimate_text_tokens("x" * self.produced_chars)
        return {
            "id": "usage",
            "object": "chat.completion.chunk",
            "model": self.request.model,
            "choices": [],
            "usage": usage_dict(prompt, completion, estimated=True),
        }


class _MergedRelay:
    """Relays several single-choice streams as one ``n``-choice stream."""

    def __init__(
        self,
        responses: list[httpx.Response],
        request: ChatCompletionRequest,
        upstream: UpstreamClient,
    ) -> None:
        self.responses = responses
        self.request = request
        self.upstream = upstream

    async def run(self, emit: Emit) -> None:
        lock = asyncio.Lock()
        usages: list[dict[str, Any] | None] = [None] * len(self.responses)
        relays = [_Relay(r, self.request, self.upstream) for r in self.responses]

        async def relay(index: int) -> None:
            async for data in _events(self.responses[index], self.upstream):
                if data == "[DONE]":
                    return
                relays[index]._observe(data)
                try:
                    chunk = json.loads(data)
                except ValueError as error:
                    raise LLMError("upstream sent a malformed stream chunk", status=502) from error
                if isinstance(chunk.get("usage"), dict):
                    usages[index] = chunk["usage"]
                choices = [
                    {**c, "index": index} for c in chunk.get("choices") or [] if isinstance(c, dict)
                ]
                if not choices:
                    continue
                async with lock:
                    await emit(sse_bytes({**chunk, "choices": choices, "usage": None}))
            if not relays[index].finished:
                raise LLMError(
                    "upstream stream ended before it finished", status=502, code="incomplete_stream"
                )
            relays[index].count_tokens()

        async with asyncio.TaskGroup() as group:
            for index in range(len(self.responses)):
                group.create_task(relay(index))
        if self.request.wants_usage_chunk:
            if all(u is not None for u in usages):
                prompt = sum(int(u.get("prompt_tokens") or 0) for u in usages if u)
                completion = sum(int(u.get("completion_tokens") or 0) for u in usages if u)
                usage = usage_dict(prompt, completion)
            else:
                estimated = [r._estimated_usage_chunk()["usage"] for r in relays]
                usage = usage_dict(
                    sum(u["prompt_tokens"] for u in estimated),
                    sum(u["completion_tokens"] for u in estimated),
                    estimated=True,
                )
            await emit(
                sse_bytes(
                    {
                        "id": "usage",
                        "object": "chat.completion.chunk",
                        "model": self.request.model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )


async def _event_batches(
    response: httpx.Response, upstream: UpstreamClient
) -> AsyncGenerator[list[str], None]:
    """The ``data`` of the SSE events of an upstream response, one list per network read,
    our key scrubbed from them."""
    decoder = SSEDecoder()
    try:
        async for raw in response.aiter_bytes():
            if batch := [upstream.scrub(event.data) for event in decoder.feed(raw)]:
                yield batch
        if tail := [upstream.scrub(event.data) for event in decoder.flush()]:
            yield tail
    except httpx.HTTPError as error:
        raise translate_read_error(error) from error


async def _events(response: httpx.Response, upstream: UpstreamClient) -> AsyncIterator[str]:
    """The ``data`` of each SSE event of an upstream response, our key scrubbed from it."""
    async with contextlib.aclosing(_event_batches(response, upstream)) as batches:
        async for batch in batches:
            for data in batch:
                yield data


def stream_error(error: BaseException) -> ProxyError:
    """What a client sees when a relayed stream fails after it began."""
    error = first_error(error)
    if isinstance(error, LLMError):
        return from_llm_error(error)
    return ProxyError(502, "upstream stream failed", error_type="upstream_error")
