"""``POST /v1/responses``: the OpenAI Responses API, stateless.

``cepo-`` models, and plain models whose upstream lacks the route, are translated
(:mod:`~server.responses.to_chat`), served by the chat completions route in process
(:mod:`~server.responses.bridge`) and answered as a response or a stream of Responses events
(:mod:`~server.responses.encoder`). Plain models on upstreams that serve the route are relayed
(:mod:`~server.responses.relay`). Nothing is stored: ``store`` is accepted and answered
``false``; what needs a stored response is a 400.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from server.body import read_json_object
from server.deps import services_of
from server.disconnect import ClientDisconnected, unless_disconnected
from server.errors import ProxyError, validation_error
from server.passthrough import stream_error
from server.passthrough_api import CLIENT_CLOSED, DEADLINE_ERROR, loop_time
from server.request_context import request_deadline, request_priority
from server.responses import relay
from server.responses.bridge import ChatAnswer, error_status, open_chat, proxy_error
from server.responses.encoder import ResponseEncoder, sse_event
from server.responses.to_chat import chat_body, responses_param
from server.responses.wire import ResponsesRequest
from server.services import Services
from server.streaming import SSEResponse

router = APIRouter()
PATH = "/v1/responses"
#: Seconds past the chat stream's own shutdown grace before a Responses stream is cut: the
#: chat stream ends first, with an error the client sees as ``response.failed``.
_SHUTDOWN_MARGIN = 3.0


@router.post(PATH, response_model=None)
async def create_response(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    body = await read_json_object(request, settings.max_body_bytes)
    try:
        parsed = ResponsesRequest.model_validate(body)
    except ValidationError as error:
        raise validation_error(list(error.errors())) from None
    routes: relay.UpstreamRoutes = request.app.state.responses_routes
    if not parsed.model.startswith(settings.model_prefix) and routes.serves_responses(
        services.upstream
    ):
        try:
            return await _relayed(request, services, routes, body, parsed)
        except relay.RouteMissing:
            pass  # remembered: translated from now on
    chat = chat_body(parsed, body)
    encoder = ResponseEncoder(model=parsed.model, echo=response_echo(parsed))
    resources = AsyncExitStack()
    try:
        answer = await unless_disconnected(request, open_chat(request, chat, resources))
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, ClientDisconnected):
            return Response(status_code=CLIENT_CLOSED)
        if isinstance(error, ProxyError):
            raise _renamed(error) from None
        raise
    headers = answer.extra_headers()
    if parsed.stream:
        return SSEResponse(
            _event_stream(encoder, answer),
            resources=resources,
            headers=headers,
            shutdown_event=anyio.Event(),
            shutdown_grace_period=settings.shutdown_grace_seconds + _SHUTDOWN_MARGIN,
        )
    async with resources:
        try:
            await unless_disconnected(request, _collect(encoder, answer))
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
    return JSONResponse(encoder.response, headers=headers)


def _renamed(error: ProxyError) -> ProxyError:
    """``error`` naming the Responses parameter a chat parameter came from."""
    param = responses_param(error.param)
    if param is None or error.param is None or param == error.param:
        return error
    message = error.message
    if message.startswith(error.param):
        message = param + message[len(error.param) :]
    elif param not in message:
        message = f"{param}: {message}"
    return ProxyError(
        error.status,
        message,
        error_type=error.error_type,
        param=param,
        code=error.code,
        headers=error.headers,
    )


def response_echo(parsed: ResponsesRequest) -> dict[str, Any]:
    """The request's settings as a response object repeats them."""
    reasoning = parsed.reasoning or {}
    return {
        "instructions": parsed.instructions,
        "max_output_tokens": parsed.max_output_tokens,
        "metadata": parsed.metadata or {},
        "parallel_tool_calls": True
        if parsed.parallel_tool_calls is None
        else parsed.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,  # nothing is stored, whatever the request asked
        "temperature": parsed.temperature,
        "text": parsed.text or {"format": {"type": "text"}},
        "tool_choice": parsed.tool_choice or "auto",
        "tools": parsed.tools or [],
        "top_p": parsed.top_p,
        "truncation": parsed.truncation or "disabled",
        "user": parsed.user,
    }


# -- answered here ------------------------------------------------------------------------
async def _collect(encoder: ResponseEncoder, answer: ChatAnswer) -> None:
    """Run the chat stream into ``encoder``; a failure is raised with its HTTP status."""
    async for chunk in answer.chunks():
        error = chunk.get("error")
        if isinstance(error, dict) and not chunk.get("choices"):
            raise proxy_error(error, error_status(error))
        encoder.feed(chunk)
    encoder.finish()


async def _event_stream(encoder: ResponseEncoder, answer: ChatAnswer) -> AsyncIterator[bytes]:
    """The Responses events of the chat stream; a failure ends it with ``error`` and
    ``response.failed``."""
    yield _encode(encoder.start())
    try:
        async for chunk in answer.chunks():
            error = chunk.get("error")
            if isinstance(error, dict) and not chunk.get("choices"):
                yield _encode(encoder.fail(error))
                return
            if events := encoder.feed(chunk):
                yield _encode(events)
    except ProxyError as failure:
        yield _encode(encoder.fail(failure.body()["error"]))
        return
    yield _encode(encoder.finish())


def _encode(events: list[dict[str, Any]]) -> bytes:
    return b"".join(sse_event(event) for event in events)


# -- relayed ------------------------------------------------------------------------------
async def _relayed(
    request: Request,
    services: Services,
    routes: relay.UpstreamRoutes,
    body: dict[str, Any],
    parsed: ResponsesRequest,
) -> Response:
    """Relay to the upstream's own ``/v1/responses``; :class:`relay.RouteMissing` when it
    has none."""
    started = time.monotonic()
    request_priority.set(started)
    deadline = started + services.settings.request_timeout
    request_deadline.set(deadline)
    summary = getattr(request.state, "summary", None)
    if isinstance(summary, dict):
        summary.update(model=parsed.model, mode="passthrough")
    upstream = services.upstream
    if not parsed.stream:
        try:
            async with asyncio.timeout_at(loop_time(deadline)):
                content = await unless_disconnected(request, relay.complete(upstream, routes, body))
        except TimeoutError:
            raise DEADLINE_ERROR from None
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
        return Response(content, media_type="application/json")
    resources = AsyncExitStack()
    try:
        async with asyncio.timeout_at(loop_time(deadline)):
            events = await unless_disconnected(
                request, relay.open_stream(upstream, routes, body, resources)
            )
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, TimeoutError):
            raise DEADLINE_ERROR from None
        if isinstance(error, ClientDisconnected):
            return Response(status_code=CLIENT_CLOSED)
        raise
    return SSEResponse(
        _relayed_stream(events, deadline),
        resources=resources,
        shutdown_event=anyio.Event(),
        shutdown_grace_period=services.settings.shutdown_grace_seconds,
    )


async def _relayed_stream(events: relay.RelayedEvents, deadline: float) -> AsyncIterator[bytes]:
    """The upstream's events until they end; past the deadline (checked as events arrive; a
    silent upstream is ended by the read timeout) or on a failure midway, one ``error`` event
    ends the stream."""
    try:
        async for data in events:
            yield data
            if time.monotonic() > deadline:
                yield sse_event(_error_event(DEADLINE_ERROR, events.count))
                return
    except Exception as error:
        failure = error if isinstance(error, ProxyError) else stream_error(error)
        yield sse_event(_error_event(failure, events.count))


def _error_event(error: ProxyError, sequence_number: int) -> dict[str, Any]:
    fields = error.body()["error"]
    return {
        "type": "error",
        "sequence_number": sequence_number,
        "code": fields["code"] or fields["type"],
        "message": fields["message"],
        "param": fields["param"],
    }
