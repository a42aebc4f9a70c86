"""The app's own chat completions route, called in process.

A Responses request that the proxy answers itself (every ``cepo-`` model, and plain models on
upstreams without ``/v1/responses``) is translated into a chat completions body and served by
the very route that serves ``POST /v1/chat/completions``: the same CePO run, bypass rules,
pass-through, upstream client, limits, metrics and errors, with no second copy of any of it.
The sub-request shares the client's scope (its headers, its ``state``, so its access-log line,
and its context: the forwarded key, the request's stats), asks for a stream with usage, and
reads the reasoning as ``reasoning_content``.

Contract of :func:`open_chat`: it returns once the route has started its response. A status
other than 200 is raised as the :class:`~server.errors.ProxyError` the route answered with.
The route runs in a task owned by ``resources``; closing them cancels it and waits for it, and
the route never sees the client's own ``receive`` (this module's caller watches the client).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from starlette.requests import Request
from starlette.types import Message

from server.errors import ProxyError, error_response
from server.sse_decoder import SSEDecoder

CHAT_PATH = "/v1/chat/completions"
#: Request headers not carried into the sub-request (its body is a new one).
_DROPPED_HEADERS = frozenset(
    {b"content-length", b"content-type", b"transfer-encoding", b"x-reasoning-format"}
)
#: Status of the HTTP envelope's error types, for errors that arrive inside a stream.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "server_error": 500,
    "timeout": 504,
}
_END = object()


class ChatAnswer:
    """A started chat completions response: its headers and its chunks."""

    def __init__(self, headers: list[tuple[bytes, bytes]], messages: asyncio.Queue[Any]):
        self.headers = headers
        self._messages = messages

    def extra_headers(self) -> dict[str, str]:
        """The route's own ``X-`` headers (``X-Reasoning-Bypassed``...), to pass on."""
        return {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in self.headers
            if name.lower().startswith(b"x-") and name.lower() != b"x-request-id"
        }

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """The stream's chunks as objects, up to ``[DONE]``. An error chunk is yielded like
        any other (``{"error": {...}}``); a stream that ends without ``[DONE]`` raises."""
        decoder = SSEDecoder()
        while True:
            message = await self._messages.get()
            if message is _END:
                break
            for event in decoder.feed(message.get("body", b"")):
                if event.data == "[DONE]":
                    return
                chunk = json.loads(event.data)
                if isinstance(chunk, dict):
                    yield chunk
        raise ProxyError(502, "the response stream ended unexpectedly", error_type="server_error")


def error_status(error: dict[str, Any]) -> int:
    """The HTTP status for an error that arrived inside a stream (by its type)."""
    return _STATUS_OF_TYPE.get(str(error.get("type")), 502)


def proxy_error(error: dict[str, Any], status: int | None = None) -> ProxyError:
    """An OpenAI ``error`` object as a :class:`ProxyError` to answer with."""
    return ProxyError(
        status or error_status(error),
        str(error.get("message") or "request failed"),
        error_type=str(error.get("type") or "invalid_request_error"),
        param=error.get("param"),
        code=error.get("code"),
    )


async def open_chat(
    request: Request, body: dict[str, Any], resources: AsyncExitStack
) -> ChatAnswer:
    """Start ``body`` on the app's chat completions route (see the module docstring)."""
    payload = json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}})
    raw = payload.encode()
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() not in _DROPPED_HEADERS]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"x-reasoning-format", b"reasoning_content"),
    ]
    scope = {
        **request.scope,
        "path": CHAT_PATH,
        "raw_path": CHAT_PATH.encode(),
        "query_string": b"",
        "method": "POST",
        "headers": headers,
    }
    messages: asyncio.Queue[Any] = asyncio.Queue()
    started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()
    body_taken = False

    async def receive() -> Message:
        nonlocal body_taken
        if not body_taken:
            body_taken = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            if not started.done():
                started.set_result(message)
        elif message["type"] == "http.response.body":
            await messages.put(message)

    async def serve() -> None:
        app = request.app.router
        try:
            await app(scope, receive, send)
        except Exception as error:  # what the framework's handlers would have answered
            if started.done():
                raise
            await error_response(error)(scope, receive, send)

    def ended(task: asyncio.Task[None]) -> None:
        messages.put_nowait(_END)
        if not started.done():
            started.set_exception(
                ProxyError(500, "internal error", error_type="server_error", code="internal_error")
            )

    task = asyncio.create_task(serve())
    task.add_done_callback(ended)

    async def stop() -> None:
        finished.set()
        task.cancel()
        await asyncio.wait({task})

    resources.push_async_callback(stop)
    start = await started
    answer = ChatAnswer(list(start.get("headers") or []), messages)
    if start["status"] != 200:
        content = b""
        while (message := await messages.get()) is not _END:
            content += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            error = json.loads(content).get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            error = {
                "message": f"request failed with HTTP {start['status']}",
                "type": "server_error",
            }
        raise proxy_error(error, start["status"])
    return answer
