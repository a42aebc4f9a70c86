"""``POST /v1/responses``: the OpenAI Responses API, stateless.

``cepo-`` models, and plain models whose upstream lacks the route, are translated
(:mod:`~server.responses.to_chat`), served by the chat completions route in process
(:mod:`~server.responses.bridge`) and answered as a response or a stream of Responses events
(:mod:`~server.responses.encoder`). Plain models on upstreams that serve the route are relayed
(:mod:`~server.responses.relay`). Nothing is stored: ``store`` is accepted and answered
``false``; what needs a stored response is a 400. Streams are
:func:`~server.event_stream.event_stream`'s, in the Responses dialect: no ``[DONE]``, a
failure (shutdown and deadline included) reported as ``error`` then ``response.failed``.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.deps import ContextDep, ServicesDep
from server.disconnect import ClientDisconnected, unless_disconnected
from server.errors import ProxyError
from server.event_stream import Emit, event_stream, loop_time
from server.passthrough_api import CLIENT_CLOSED, before_response
from server.request_context import RequestContext
from server.responses import relay
from server.responses.bridge import ChatAnswer, error_status, open_chat, proxy_error
from server.responses.encoder import ResponseEncoder, sse_event
from server.responses.to_chat import chat_body, responses_param
from server.responses.wire import ResponsesRequest
from server.routes.chat import JSONBodyRoute
from server.services import Services

router = APIRouter(route_class=JSONBodyRoute, strict_content_type=False)
PATH = "/v1/responses"


@router.post(PATH, response_model=None)
async def create_response(
    request: Request, parsed: ResponsesRequest, services: ServicesDep, context: ContextDep
) -> Response:
    body: dict[str, Any] = await request.json()  # the client's JSON, as it came
    routes: relay.UpstreamRoutes = request.app.state.responses_routes
    if not parsed.model.startswith(services.settings.model_prefix) and routes.serves_responses(
        services.upstream
    ):
        try:
            return await _relayed(request, services, context, routes, body, parsed)
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

        async def produce(emit: Emit) -> None:
            await _translate(encoder, answer, emit)

        return event_stream(
            produce,
            context=context,
            grace_seconds=services.settings.shutdown_grace_seconds,
            resources=resources,
            headers=headers,
            error_event=lambda failure: _failed(encoder, failure),
            end=None,
        )
    async with resources:
        try:
            await unless_disconnected(request, _collect(encoder, answer))
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
    return JSONResponse(encoder.response, headers=headers)


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


# -- answered here ------------------------------------------------------------------------
async def _collect(encoder: ResponseEncoder, answer: ChatAnswer) -> None:
    """Run the chat stream into ``encoder``; a failure is raised with its HTTP status."""
    async for chunk in answer.chunks():
        error = chunk.get("error")
        if isinstance(error, dict) and not chunk.get("choices"):
            raise _renamed(proxy_error(error, error_status(error)))
        encoder.feed(chunk)
    encoder.finish()


async def _translate(encoder: ResponseEncoder, answer: ChatAnswer, emit: Emit) -> None:
    """Emit the Responses events of the chat stream; an error the chat stream ends with
    ends this one as ``error`` and ``response.failed``."""
    await emit(_encode(encoder.start()))
    async for chunk in answer.chunks():
        error = chunk.get("error")
        if isinstance(error, dict) and not chunk.get("choices"):
            await emit(_encode(encoder.fail(error)))
            return
        if events := encoder.feed(chunk):
            await emit(_encode(events))
    await emit(_encode(encoder.finish()))


def _failed(encoder: ResponseEncoder, failure: ProxyError) -> bytes:
    """The end of a stream cut short (shutdown, an unexpected failure)."""
    if encoder.ended:
        return b""
    return _encode(encoder.fail(failure.body()["error"]))


def _encode(events: list[dict[str, Any]]) -> bytes:
    return b"".join(sse_event(event) for event in events)


# -- relayed ------------------------------------------------------------------------------
async def _relayed(
    request: Request,
    services: Services,
    context: RequestContext,
    routes: relay.UpstreamRoutes,
    body: dict[str, Any],
    parsed: ResponsesRequest,
) -> Response:
    """Relay to the upstream's own ``/v1/responses``; :class:`relay.RouteMissing` when it
    has none."""
    context.start_deadline(services.settings.request_timeout)
    context.mode = "passthrough"
    context.model = parsed.model
    upstream = services.upstream
    deadline = loop_time(context.deadline)
    if not parsed.stream:
        try:
            content = await before_response(
                request, context, deadline, relay.complete(upstream, routes, body, context)
            )
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
        return Response(content, media_type="application/json")
    resources = AsyncExitStack()
    try:
        events = await before_response(
            request,
            context,
            deadline,
            relay.open_stream(upstream, routes, body, context, resources),
        )
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, ClientDisconnected):
            return Response(status_code=CLIENT_CLOSED)
        raise
    return event_stream(
        events.run,
        context=context,
        grace_seconds=services.settings.shutdown_grace_seconds,
        deadline=context.deadline,
        resources=resources,
        error_event=lambda failure: sse_event(_error_event(failure, events.count)),
        end=None,
    )


def _error_event(error: ProxyError, sequence_number: int) -> dict[str, Any]:
    fields = error.body()["error"]
    return {
        "type": "error",
        "sequence_number": sequence_number,
        "code": fields["code"] or fields["type"],
        "message": fields["message"],
        "param": fields["param"],
    }
