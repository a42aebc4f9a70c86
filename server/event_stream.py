"""OpenAI event streams: how every streamed answer of the proxy is produced and ends.

One owner for the three things every stream needs:

* **The producer.** A route hands :func:`event_stream` a producer, ``produce(emit)``,
  that writes encoded events (:func:`json_event`, :func:`encode_event`, or relayed blocks)
  and returns when the answer is complete. It runs in its own task and its events reach
  the response through a small queue, so a client that leaves cancels it (and every
  upstream call under it) as soon as the disconnect is seen.
* **The error mapping.** A producer that fails after the stream began ends the stream with
  one error event, mapped by :func:`stream_error`, then ``[DONE]``; the request's
  :class:`~server.request_context.RequestContext` records the outcome. Errors are built
  fresh for each failure.
* **The shutdown policy.** When the server shuts down, a stream still running
  ``shutdown_grace_seconds`` later ends with one ``503`` error event and ``[DONE]``;
  sse-starlette cancels what is left :data:`SHUTDOWN_MARGIN` seconds after that, and uvicorn
  waits :func:`server_shutdown_timeout` in all, so every stream ends on an event boundary.

Producers never write ``[DONE]``: the stream appends it. Resources opened before the
response started (an upstream stream opened early so that its HTTP errors keep their
status) are passed as ``resources`` and closed when the response ends, even when its body
never started (a generator cancelled before its first step never runs its ``finally``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send

from reasoning.llm import LLMError
from server.errors import ProxyError, first_error, from_llm_error
from server.request_context import RequestContext

logger = logging.getLogger("cepo_proxy.stream")

Emit = Callable[[bytes], Awaitable[None]]
Producer = Callable[[Emit], Awaitable[None]]

DONE = b"data: [DONE]\n\n"
#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_SECONDS = 10.0
#: Seconds between the end a stream is given at shutdown and each later, harder stop.
SHUTDOWN_MARGIN = 2.0
_QUEUE_SIZE = 64
_LINE_END = re.compile(r"\r\n|\r|\n")
_END = object()
_WAKE = object()


def encode_event(
    data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """One SSE event: ``event``/``id``/``retry`` lines when given, one ``data`` line per
    line of ``data`` (a decoder joins them back with ``"\n"``: ``data`` exactly, when its
    lines end in ``"\n"``)."""
    lines = []
    if event:
        lines.append(f"event: {event}\n")
    if id is not None:
        lines.append(f"id: {id}\n")
    if retry is not None:
        lines.append(f"retry: {retry}\n")
    if "\n" in data or "\r" in data:
        lines.extend(f"data: {line}\n" for line in _LINE_END.split(data))
    else:
        lines.append(f"data: {data}\n")
    lines.append("\n")
    return "".join(lines).encode()


def json_event(payload: dict[str, Any]) -> bytes:
    """One ``data`` event holding ``payload`` as compact JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def stream_error(error: BaseException) -> ProxyError:
    """What the client sees when a stream fails after it began (a new error each time)."""
    error = first_error(error)
    if isinstance(error, TimeoutError):
        return deadline_error()
    if isinstance(error, LLMError):
        return from_llm_error(error)
    logger.error("stream failed: %s", type(error).__name__, exc_info=error)
    return ProxyError(500, "the stream failed", error_type="server_error", code="internal_error")


def deadline_error() -> ProxyError:
    """The 504 of a request whose deadline passed before its answer was complete."""
    return ProxyError(
        504, "the request took longer than its deadline", error_type="timeout", code="timeout"
    )


def server_shutdown_timeout(grace_seconds: float) -> int:
    """uvicorn's ``timeout_graceful_shutdown`` for streams given ``grace_seconds``."""
    return math.ceil(grace_seconds + 2 * SHUTDOWN_MARGIN)


def loop_time(deadline: float | None) -> float | None:
    """A ``time.monotonic()`` deadline on the running loop's clock (for ``timeout_at``)."""
    if deadline is None:
        return None
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


class EventStreamResponse(EventSourceResponse):
    """An SSE response: keep-alive comments, ``resources`` closed when it ends."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        resources: AsyncExitStack | None,
        headers: dict[str, str] | None,
        shutdown_event: anyio.Event,
        grace_seconds: float,
    ) -> None:
        super().__init__(
            content,
            headers=headers,
            ping=KEEPALIVE_SECONDS,
            sep="\n",
            shutdown_event=shutdown_event,
            shutdown_grace_period=grace_seconds + SHUTDOWN_MARGIN,
        )
        self._resources = resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._resources is not None:
                with anyio.CancelScope(shield=True):
                    await self._resources.aclose()

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        # sse-starlette wraps every send in a cancel scope for its optional send timeout,
        # which is not set here: send directly. (An override of a private method: if it is
        # renamed upstream, this is no longer called and nothing else changes.)
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)


def event_stream(
    produce: Producer,
    *,
    context: RequestContext,
    grace_seconds: float,
    deadline: float | None = None,
    resources: AsyncExitStack | None = None,
    headers: dict[str, str] | None = None,
) -> EventStreamResponse:
    """The streamed response of ``produce``: its events, then ``[DONE]``.

    ``deadline`` (``time.monotonic()``) bounds the producer: past it the stream ends with a
    504 error event. ``context`` records how the stream ended (``outcome``, ``error_status``).
    """
    shutdown = anyio.Event()

    async def bounded(emit: Emit) -> None:
        async with asyncio.timeout_at(loop_time(deadline)):
            await produce(emit)

    def on_error(error: BaseException) -> ProxyError:
        failure = stream_error(error)
        context.outcome = "deadline" if failure.status == 504 else "failed"
        context.error_status = failure.status
        return failure

    content = _pump(
        bounded if deadline is not None else produce,
        on_error=on_error,
        shutdown_event=shutdown,
        grace_seconds=grace_seconds,
    )
    return EventStreamResponse(
        content,
        resources=resources,
        headers=headers,
        shutdown_event=shutdown,
        grace_seconds=grace_seconds,
    )


async def _pump(
    produce: Producer,
    *,
    on_error: Callable[[BaseException], ProxyError],
    shutdown_event: anyio.Event,
    grace_seconds: float,
) -> AsyncIterator[bytes]:
    """Yield what ``produce(emit)`` emits, from a producer task, then ``[DONE]`` (after one
    error event when it failed or shutdown cut it short). Closing this generator cancels
    the producer and waits for it."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
    # Ends that do not come through the queue (the producer cancelled from outside, the
    # shutdown grace period over), taken once the queue is empty so that every event
    # emitted before them still goes out.
    ends: list[ProxyError] = []

    def end_with(error: ProxyError) -> None:
        ends.append(error)
        if not queue.full():  # a full queue means the consumer is not waiting
            queue.put_nowait(_WAKE)

    async def run() -> None:
        try:
            await produce(queue.put)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await queue.put(on_error(error))
        await queue.put(_END)

    def producer_done(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            end_with(ProxyError(502, "stream ended unexpectedly", error_type="server_error"))

    def shutdown_over(task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            end_with(
                ProxyError(
                    503,
                    "the server is shutting down; the response was cut short",
                    error_type="server_error",
                    code="server_shutdown",
                )
            )

    producer = asyncio.create_task(run())
    producer.add_done_callback(producer_done)
    stop_task = asyncio.create_task(_after_shutdown(shutdown_event, grace_seconds))
    stop_task.add_done_callback(shutdown_over)
    try:
        while True:
            item = ends[0] if ends and queue.empty() else await queue.get()
            if item is _WAKE:
                continue
            if item is _END:
                break
            if isinstance(item, ProxyError):
                yield json_event(item.body())
                break
            yield item
        yield DONE
    finally:
        tasks = (producer, stop_task)
        for task in tasks:
            task.cancel()
        # asyncio.wait never raises a child's CancelledError, only our own.
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                logger.debug("stream task failed after the stream ended", exc_info=task.exception())


async def _after_shutdown(event: anyio.Event, grace_seconds: float) -> None:
    await event.wait()
    await asyncio.sleep(grace_seconds)
