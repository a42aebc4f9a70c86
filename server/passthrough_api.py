"""Serving a pass-through request: JSON or a relayed stream, errors in the OpenAI envelope."""

from __future__ import annotations

import asyncio
import json
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
from server.observe import add_answer
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
    if not isinstance(summary, dict):
        summary = {}
    summary.setdefault("mode", "passthrough")
    summary["model"] = parsed.model
    log_content = services.settings.log_content
    if log_content:
        summary["prompt"] = body.get("messages")
    if not parsed.stream:
        try:
            async with asyncio.timeout_at(loop_time(deadline)):
                data, raw = await unless_disconnected(request, passthrough.complete(upstream, body))
        except TimeoutError:
            summary["outcome"] = "deadline"
            raise DEADLINE_ERROR from None
        except ClientDisconnected:
            return Response(status_code=CLIENT_CLOSED)
        except LLMError as error:
            raise from_llm_error(error) from None
        if log_content:
            for choice in data.get("choices") or []:
                message = choice.get("message") if isinstance(choice, dict) else None
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    add_answer(summary, message["content"])
        if raw is not None:  # relayed as the upstream wrote it: no re-encoding
            return Response(raw, headers=headers, media_type="application/json")
        return JSONResponse(data, headers=headers)

    resources = AsyncExitStack()
    try:
        async with asyncio.timeout_at(loop_time(deadline)):
            # Until the upstream answers there is no response, so no disconnect listener:
            # a client leaving now must cancel the opening call itself.
            produce = await unless_disconnected(
                request, passthrough.open_stream(upstream, body, parsed, resources)
            )
    except BaseException as error:
        await resources.aclose()
        if isinstance(error, TimeoutError):
            summary["outcome"] = "deadline"
            raise DEADLINE_ERROR from None
        if isinstance(error, ClientDisconnected):
            summary["outcome"] = "client_disconnected"
            return Response(status_code=CLIENT_CLOSED)
        if isinstance(error, LLMError):
            raise from_llm_error(error) from None
        raise

    async def produce_until_deadline(emit: passthrough.Emit) -> None:
        sink = _answer_capture(emit, summary) if log_content else emit
        async with asyncio.timeout_at(loop_time(deadline)):
            await produce(sink)

    def on_error(error: BaseException) -> ProxyError:
        failure = _stream_error(error)
        summary["outcome"] = "deadline" if failure is DEADLINE_ERROR else "failed"
        summary["error_status"] = failure.status
        return failure

    shutdown = anyio.Event()
    grace = services.settings.shutdown_grace_seconds
    content = pump(
        produce_until_deadline,
        on_error=on_error,
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


def _answer_capture(emit: passthrough.Emit, summary: dict[str, Any]) -> passthrough.Emit:
    """``emit`` that also collects the relayed content per choice into ``summary["answer"]``
    (``CEPO_LOG_CONTENT`` only: it parses every chunk once more)."""
    texts: dict[int, list[str]] = {}

    async def capture(data: bytes) -> None:
        for line in data.splitlines():  # one emitted piece may hold several events
            try:
                chunk = json.loads(line.removeprefix(b"data: ")) if line else None
            except ValueError:
                chunk = None
            for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                index = int(choice.get("index") or 0) if isinstance(choice, dict) else 0
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    texts.setdefault(index, []).append(delta["content"])
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    add_answer(summary, "".join(texts.pop(index, [])))
        await emit(data)

    return capture


def _stream_error(error: BaseException) -> ProxyError:
    if isinstance(error, TimeoutError):
        return DEADLINE_ERROR
    return passthrough.stream_error(error)


def loop_time(deadline: float | None) -> float | None:
    """A ``time.monotonic()`` deadline on the event loop's clock (they are the same clock)."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
