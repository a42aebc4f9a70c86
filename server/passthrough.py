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
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from typing import Any

import httpx

from reasoning.llm import LLMError
from server.errors import first_error
from server.event_stream import Emit, Producer, encode_event, json_event
from server.protocol import ChatCompletionRequest, usage_dict
from server.request_context import RequestContext
from server.sse_blocks import EventBlockSplitter
from server.sse_decoder import ServerSentEvent, SSEDecodeError, SSEDecoder
from server.tokens import estimate_prompt_tokens, estimate_text_tokens
from server.upstream.client import UpstreamClient, drain, translate_read_error
from server.upstream.fixes import single_choice, split_count

PATH = "chat/completions"


async def complete(
    upstream: UpstreamClient, body: dict[str, Any], context: RequestContext
) -> tuple[dict[str, Any], bytes | None]:
    """A non-streaming pass-through: the answer, and the upstream's own bytes of it when
    they are the answer as it is (one call; ``None`` when several calls were merged).
    Raises :class:`LLMError`."""
    calls = split_count(body, upstream.kind)
    if calls == 1:
        data, content = await upstream.post_json(PATH, body, context)
        if not isinstance(data, dict):
            raise LLMError("upstream answered with something other than a JSON object", status=502)
        _count_tokens(upstream, context, body, data)
        return data, content
    single = single_choice(body)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(upstream.post_json(PATH, single, context)) for _ in range(calls)
            ]
    except ExceptionGroup as group_error:
        raise first_error(group_error) from None
    parts = [task.result()[0] for task in tasks]
    for part in parts:
        _count_tokens(upstream, context, single, part)
    return merge_completions(parts), None


def _count_tokens(
    upstream: UpstreamClient, context: RequestContext, body: dict[str, Any], data: Any
) -> None:
    """Count one answer's tokens in the metrics: the upstream's usage, else an estimate."""
    if not isinstance(data, dict):
        return
    usage = data.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        upstream.metrics.record_tokens(
            usage["prompt_tokens"], int(usage.get("completion_tokens") or 0), context.stats
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
    upstream.metrics.record_tokens(prompt, estimate_text_tokens(produced), context.stats)


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
    context: RequestContext,
    resources: AsyncExitStack,
) -> Producer:
    """Open the upstream stream now, so that its HTTP errors keep their status, and return
    the producer that relays it; the response is registered on ``resources``.

    With ``n`` split into single calls, the first is opened now and the others once the
    response has begun, all relayed concurrently: each open stream holds a limiter slot until
    it is read to its end, so opening them all before reading any could wait for slots that
    only they would free.
    """
    calls = split_count(body, upstream.kind)
    if calls == 1:
        response = await resources.enter_async_context(upstream.stream(PATH, body, context))
        return _Relay(response, request, upstream, context).run
    single = single_choice(body)
    # Its own stack, closed as soon as it is relayed (so its limiter slot is free for the
    # others), and by ``resources`` when the response ends first.
    first_call = AsyncExitStack()
    resources.push_async_callback(first_call.aclose)
    first = await first_call.enter_async_context(upstream.stream(PATH, single, context))
    return _MergedRelay((first, first_call), calls, single, request, upstream, context).run


class _Observer:
    """What one upstream stream said about itself: usage, whether it finished, its size."""

    def __init__(
        self, request: ChatCompletionRequest, upstream: UpstreamClient, context: RequestContext
    ) -> None:
        self.request = request
        self.upstream = upstream
        self.context = context
        self.usage_seen = False
        self.usage: dict[str, Any] | None = None
        self.finished = False
        self.produced_chars = 0

    def observe(self, data: str) -> dict[str, Any] | None:
        """Note one event's ``data``; the chunk it holds, when it is a JSON object."""
        try:
            chunk = json.loads(data)
        except ValueError:
            return None
        if not isinstance(chunk, dict):
            return None
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
        return chunk

    def count_tokens(self) -> None:
        """Count the stream's tokens in the metrics: the upstream's usage, else an estimate."""
        usage = self.usage
        if usage is not None and isinstance(usage.get("prompt_tokens"), int):
            prompt, completion = usage["prompt_tokens"], int(usage.get("completion_tokens") or 0)
        else:
            estimated = self.estimated_usage()
            prompt, completion = estimated["prompt_tokens"], estimated["completion_tokens"]
        self.upstream.metrics.record_tokens(prompt, completion, self.context.stats)

    def estimated_usage(self) -> dict[str, Any]:
        prompt = estimate_prompt_tokens(m.model_dump() for m in self.request.messages)
        completion = estimate_text_tokens("x" * self.produced_chars)
        return usage_dict(prompt, completion, estimated=True)


def _usage_chunk(model: str, usage: dict[str, Any]) -> bytes:
    return json_event(
        {
            "id": "usage",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [],
            "usage": usage,
        }
    )


def _incomplete() -> LLMError:
    return LLMError(
        "upstream stream ended before it finished", status=502, code="incomplete_stream"
    )


class _Relay:
    """Relays one upstream stream event block by event block, as the upstream wrote it."""

    def __init__(
        self,
        response: httpx.Response,
        request: ChatCompletionRequest,
        upstream: UpstreamClient,
        context: RequestContext,
    ) -> None:
        self.response = response
        self.request = request
        self.observer = _Observer(request, upstream, context)
        self.upstream = upstream
        self.context = context

    async def run(self, emit: Emit) -> None:
        decoder = SSEDecoder()
        done = False
        batches = _block_batches(self.response, self.upstream, self.context)
        try:
            async for batch in batches:
                relayed: list[bytes] = []
                for block in batch:
                    events = decoder.feed(block)
                    if events and events[0].data == "[DONE]":
                        done = True
                        break
                    for event in events:
                        self.observer.observe(event.data)
                    relayed.append(block)
                if relayed:
                    # Events that arrived in one read leave in one write.
                    await emit(b"".join(relayed))
                if done:
                    break
            if done:
                await drain(batches)  # so the connection goes back to the pool
        finally:
            await batches.aclose()
        if not done and not self.observer.finished:
            raise _incomplete()
        self.observer.count_tokens()
        if self.request.wants_usage_chunk and not self.observer.usage_seen:
            await emit(_usage_chunk(self.request.model, self.observer.estimated_usage()))


class _MergedRelay:
    """Relays ``calls`` single-choice streams as one ``n``-choice stream, re-encoding each
    event with its choices re-indexed (``event`` and ``id`` kept)."""

    def __init__(
        self,
        first: tuple[httpx.Response, AsyncExitStack],
        calls: int,
        body: dict[str, Any],
        request: ChatCompletionRequest,
        upstream: UpstreamClient,
        context: RequestContext,
    ) -> None:
        self.first = first
        self.calls = calls
        self.body = body
        self.request = request
        self.upstream = upstream
        self.context = context

    async def run(self, emit: Emit) -> None:
        lock = asyncio.Lock()
        observers = [
            _Observer(self.request, self.upstream, self.context) for _ in range(self.calls)
        ]

        async def relay(index: int, response: httpx.Response) -> None:
            observer = observers[index]
            events = _events(response, self.upstream, self.context)
            async with contextlib.aclosing(events):
                async for event in events:
                    chunk = observer.observe(event.data)
                    if chunk is None:
                        raise LLMError("upstream sent a malformed stream chunk", status=502)
                    choices = [
                        {**c, "index": index}
                        for c in chunk.get("choices") or []
                        if isinstance(c, dict)
                    ]
                    if not choices:
                        continue
                    data = json.dumps(
                        {**chunk, "choices": choices, "usage": None}, separators=(",", ":")
                    )
                    async with lock:
                        await emit(encode_event(data, event=event.event, id=event.id))
            if not observer.finished:
                raise _incomplete()
            observer.count_tokens()

        async def open_and_relay(index: int) -> None:
            async with self.upstream.stream(PATH, self.body, self.context) as response:
                await relay(index, response)

        async def relay_first() -> None:
            response, call = self.first
            async with call:
                await relay(0, response)

        async with asyncio.TaskGroup() as group:
            group.create_task(relay_first())
            for index in range(1, self.calls):
                group.create_task(open_and_relay(index))
        if self.request.wants_usage_chunk:
            reported = [o.usage for o in observers]
            if all(u is not None for u in reported):
                usage = usage_dict(
                    sum(int(u.get("prompt_tokens") or 0) for u in reported if u),
                    sum(int(u.get("completion_tokens") or 0) for u in reported if u),
                )
            else:
                estimated = [o.estimated_usage() for o in observers]
                usage = usage_dict(
                    sum(u["prompt_tokens"] for u in estimated),
                    sum(u["completion_tokens"] for u in estimated),
                    estimated=True,
                )
            await emit(_usage_chunk(self.request.model, usage))


def _decode_error(error: SSEDecodeError) -> LLMError:
    return LLMError(f"upstream sent an unreadable stream ({error})", status=502)


async def _block_batches(
    response: httpx.Response, upstream: UpstreamClient, context: RequestContext
) -> AsyncGenerator[list[bytes], None]:
    """The event blocks of an upstream response, one list per network read, keys scrubbed."""
    splitter = EventBlockSplitter()
    try:
        async for raw in response.aiter_bytes():
            if blocks := splitter.feed(raw):
                yield [upstream.scrub_bytes(block, context) for block in blocks]
    except httpx.HTTPError as error:
        raise translate_read_error(error) from error
    except SSEDecodeError as error:
        raise _decode_error(error) from None


async def _events(
    response: httpx.Response, upstream: UpstreamClient, context: RequestContext
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of an upstream response up to ``[DONE]`` (left out), data scrubbed."""
    decoder = SSEDecoder()
    chunks = response.aiter_bytes()
    try:
        async for raw in chunks:
            for event in decoder.feed(raw):
                if event.data == "[DONE]":
                    await drain(chunks)  # so the connection goes back to the pool
                    return
                data = upstream.scrub(event.data, context)
                yield ServerSentEvent(data, event.event, event.id, event.retry)
    except httpx.HTTPError as error:
        raise translate_read_error(error) from error
    except SSEDecodeError as error:
        raise _decode_error(error) from None
