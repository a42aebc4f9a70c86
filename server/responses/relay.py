"""Plain models on upstreams that serve ``/v1/responses`` themselves: the request is relayed.

The body goes upstream as it came; the answer comes back as the upstream wrote it: JSON bytes
unchanged, stream event blocks byte for byte (any key we sent scrubbed), with nothing added (no
``[DONE]``: Responses streams end with their last event).

An upstream that answers the route with 405, or with a 404 that is not about the model, lacks
it: :class:`RouteMissing` is raised and :class:`UpstreamRoutes` remembers that for that upstream,
so later requests are translated to chat completions straight away.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import httpx

from reasoning.llm import LLMError
from server.errors import from_llm_error
from server.event_stream import Emit
from server.request_context import RequestContext
from server.sse_blocks import EventBlockSplitter
from server.sse_decoder import SSEDecodeError, SSEDecoder
from server.upstream.client import UpstreamClient, translate_read_error

PATH = "responses"
#: The events that end a stream, with the whole response and its usage.
_FINAL_EVENTS = (b"response.completed", b"response.incomplete", b"response.failed")


class RouteMissing(Exception):
    """The upstream does not serve ``/v1/responses``."""


class UpstreamRoutes:
    """What this app learnt about its upstreams' routes (one per app, in ``app.state``)."""

    def __init__(self) -> None:
        self._lacking: set[str] = set()

    def serves_responses(self, upstream: UpstreamClient) -> bool:
        return upstream.base_url not in self._lacking

    def lacks_responses(self, upstream: UpstreamClient) -> None:
        self._lacking.add(upstream.base_url)


def _route_missing(error: LLMError, model: str) -> bool:
    if error.status == 405:
        return True
    return (
        error.status == 404
        and error.code not in ("model_not_found", "not_found_model")
        and model not in error.message
    )


async def complete(
    upstream: UpstreamClient,
    routes: UpstreamRoutes,
    body: dict[str, Any],
    context: RequestContext,
) -> bytes:
    """The upstream's JSON answer, as its bytes. Raises :class:`RouteMissing` or
    :class:`~server.errors.ProxyError`."""
    try:
        data, content = await upstream.post_json(PATH, body, context)
    except LLMError as error:
        raise _failure(error, upstream, routes, str(body.get("model"))) from None
    _count_tokens(upstream, context, data.get("usage") if isinstance(data, dict) else None)
    return content


async def open_stream(
    upstream: UpstreamClient,
    routes: UpstreamRoutes,
    body: dict[str, Any],
    context: RequestContext,
    resources: AsyncExitStack,
) -> RelayedEvents:
    """Open the upstream stream now (so its HTTP errors keep their status) and return its
    events to relay; the response is closed with ``resources``."""
    try:
        response = await resources.enter_async_context(upstream.stream(PATH, body, context))
    except LLMError as error:
        raise _failure(error, upstream, routes, str(body.get("model"))) from None
    return RelayedEvents(response, upstream, context)


def _failure(
    error: LLMError, upstream: UpstreamClient, routes: UpstreamRoutes, model: str
) -> Exception:
    if _route_missing(error, model):
        routes.lacks_responses(upstream)
        return RouteMissing()
    return from_llm_error(error)


class RelayedEvents:
    """Relays the upstream's event blocks as written (keys scrubbed), one write per network
    read. ``count`` is how many have passed: the next event's ``sequence_number`` when the
    upstream numbers them from 0, as OpenAI does."""

    def __init__(
        self, response: httpx.Response, upstream: UpstreamClient, context: RequestContext
    ) -> None:
        self._response = response
        self._upstream = upstream
        self._context = context
        self.count = 0

    async def run(self, emit: Emit) -> None:
        splitter = EventBlockSplitter()
        try:
            async for raw in self._response.aiter_bytes():
                if blocks := splitter.feed(raw):
                    self.count += len(blocks)
                    scrubbed = [self._upstream.scrub_bytes(b, self._context) for b in blocks]
                    await emit(b"".join(scrubbed))
                    for block in scrubbed:
                        if any(name in block for name in _FINAL_EVENTS):
                            self._count(block)
        except httpx.HTTPError as error:
            raise translate_read_error(error) from error
        except SSEDecodeError as error:
            raise LLMError(f"upstream sent an unreadable stream ({error})", status=502) from None

    def _count(self, block: bytes) -> None:
        """Count the tokens the final event's response reports."""
        for event in SSEDecoder().feed(block + b"\n\n"):
            try:
                data = json.loads(event.data)
            except ValueError:
                continue
            response = data.get("response") if isinstance(data, dict) else None
            usage = response.get("usage") if isinstance(response, dict) else None
            _count_tokens(self._upstream, self._context, usage)


def _count_tokens(upstream: UpstreamClient, context: RequestContext, usage: Any) -> None:
    """Count a relayed response's tokens in the metrics and the request's stats."""
    if isinstance(usage, dict):
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            upstream.metrics.record_tokens(prompt, completion, context.stats)
