"""Serving a pass-through request: JSON or a relayed stream, errors in the OpenAI envelope."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reasoning.llm import LLMError
from server import passthrough
from server.disconnect import ClientDisconnected, unless_disconnected
from server.errors import ProxyError, from_llm_error
from server.protocol import ChatCompletionRequest
from server.request_context import request_deadline
from server.services import Services
from server.streaming import SSEResponse, pump

DEADLINE_ERROR = ProxyError(
    504, "the request took longer than its deadline", error_type="timeout", code="timeout"
)
#: Status for a request whose client left (nginx's convention; never seen by the client).
CLIENT_CLOSED = 499


async def passthrough_response(
    request: Request,
    services: Services,
    body: dict[str, Any],
    parsed: ChatCompletionRequest,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """Forward ``body`` upstream and answer with what comes back."""
    deadline = request_deadline.get()
    upstream = services.upstream
    summary = getattr(request.state, "summary", None)
    if isinstance(summary, dict):
        summary.setdefault("mode", "passthrough")
        summary["model"] = parsed.model
    if not parsed.stream:
        try:
            async with asyncio.timeout_at(loop_time(deadline)):
                data = await unless_disconnected(request, passthrough.complete(upstream, body))
        except TimeoutError:
            raise DEADLINE_ERROR from None
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
        except LLMError as error:
            raise from_llm_error(error) from None
        return JSONResponse(data, headers=headers)

    resources = AsyncExitStack()
    try:
        async with asyncio.timeout_at(loop_time(deadline)):
            produce = await passthrough.open_stream(upstream, body, parsed, resources)
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, TimeoutError):
            raise DEADLINE_ERROR from None
        if isinstance(error, LLMError):
            raise from_llm_error(error) from None
        raise

    async def produce_until_deadline(emit: passthrough.Emit) -> None:
        async with asyncio.timeout_at(loop_time(deadline)):
            await produce(emit)

    shutdown = anyio.Event()
    grace = services.settings.shutdown_grace_seconds
    content = pump(
        produce_until_deadline,
        on_error=_stream_error,
        shutdown_event=shutdown,
        grace_seconds=grace,
    )
    return SSEResponse(
        content,
        resources=resources,
        headers=headers,
        shutdown_event=shutdown,
        shutdown_grace_period=grace,
    )


def _stream_error(error: BaseException) -> ProxyError:
    if isinstance(error, TimeoutError):
        return DEADLINE_ERROR
    return passthrough.stream_error(error)


def loop_time(deadline: float | None) -> float | None:
    """A ``time.monotonic()`` deadline on the event loop's clock (they are the same clock)."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
