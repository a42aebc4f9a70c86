"""Serving a pass-through request: JSON or a relayed stream, errors in the OpenAI envelope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reasoning.llm import LLMError
from server import passthrough
from server.disconnect import ClientDisconnected, unless_disconnected
from server.errors import from_llm_error
from server.event_stream import Emit, deadline_error, event_stream, loop_time
from server.protocol import ChatCompletionRequest
from server.request_context import RequestContext
from server.services import Services
from server.sse_decoder import SSEDecoder

T = TypeVar("T")

#: Status for a request whose client left (nginx's convention; never seen by the client).
CLIENT_CLOSED = 499


async def passthrough_response(
    request: Request,
    services: Services,
    context: RequestContext,
    body: dict[str, Any],
    parsed: ChatCompletionRequest,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """Forward ``body`` upstream and answer with what comes back."""
    upstream = services.upstream
    if context.mode == "none":
        context.mode = "passthrough"
    context.model = parsed.model
    log_content = services.settings.log_content
    if log_content:
        context.prompt = body.get("messages")
    deadline = loop_time(context.deadline)
    if not parsed.stream:
        try:
            data, raw = await before_response(
                request, context, deadline, passthrough.complete(upstream, body, context)
            )
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
        except LLMError as error:
            raise from_llm_error(error) from None
        if log_content:
            for choice in data.get("choices") or []:
                message = choice.get("message") if isinstance(choice, dict) else None
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    context.answers.append(message["content"])
        if raw is not None:  # relayed as the upstream wrote it: no re-encoding
            return Response(raw, headers=headers, media_type="application/json")
        return JSONResponse(data, headers=headers)

    resources = AsyncExitStack()
    try:
        # Until the upstream answers there is no response, so no disconnect listener:
        # a client leaving now must cancel the opening call itself.
        produce = await before_response(
            request,
            context,
            deadline,
            passthrough.open_stream(upstream, body, parsed, context, resources),
        )
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, ClientDisconnected):
            return Response(status_code=CLIENT_CLOSED)
        if isinstance(error, LLMError):
            raise from_llm_error(error) from None
        raise

    async def relay(emit: Emit) -> None:
        await produce(_answer_capture(emit, context) if log_content else emit)

    return event_stream(
        relay,
        context=context,
        grace_seconds=services.settings.shutdown_grace_seconds,
        deadline=context.deadline,
        resources=resources,
        headers=headers,
    )


async def before_response(
    request: Request, context: RequestContext, deadline: float | None, work: Awaitable[T]
) -> T:
    """Await ``work``, an upstream call made before any response exists, under the
    request's ``deadline`` (loop time) and cancelled by the client leaving. A deadline
    passing raises a fresh 504 (outcome ``deadline``); a client leaving raises
    :class:`ClientDisconnected` (outcome ``client_disconnected``)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await unless_disconnected(request, work)
    except TimeoutError:
        context.outcome = "deadline"
        raise deadline_error() from None
    except ClientDisconnected:
        context.outcome = "client_disconnected"
        raise


def _answer_capture(emit: Emit, context: RequestContext) -> Emit:
    """``emit`` that also collects the relayed content per choice into ``context.answers``
    (``CEPO_LOG_CONTENT`` only: it parses every event once more)."""
    texts: dict[int, list[str]] = {}
    decoder = SSEDecoder()

    async def capture(data: bytes) -> None:
        for event in decoder.feed(data):
            try:
                chunk = json.loads(event.data)
            except ValueError:
                chunk = None
            for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                index = int(choice.get("index") or 0) if isinstance(choice, dict) else 0
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    texts.setdefault(index, []).append(delta["content"])
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    context.answers.append("".join(texts.pop(index, [])))
        await emit(data)

    return capture
