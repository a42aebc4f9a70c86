"""SSE responses that always end properly.

:func:`pump` runs the producer of a stream's chunks in its own task and hands them
to the response through a small queue. That buys three guarantees:

* a client that leaves cancels the producer (and so every upstream call under it)
  as soon as sse-starlette notices the disconnect;
* on server shutdown, a stream still running after the grace period ends with one
  error chunk and ``[DONE]`` instead of being cut mid-line;
* a producer that fails after the stream began ends it with one error chunk and
  ``[DONE]`` (errors are values: :class:`~server.errors.ProxyError`).

:class:`SSEResponse` also owns resources opened *before* the response started (the
upstream stream of a pass-through, opened early so its HTTP errors keep their
status): they are closed when the response ends, even if the body never started
(a generator cancelled before its first step never runs its ``finally``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.types import Message, Receive, Scope, Send

from server.errors import ProxyError

logger = logging.getLogger("cepo_proxy.stream")

DONE = b"data: [DONE]\n\n"
KEEPALIVE_SECONDS = 10.0
_QUEUE_SIZE = 64
_END = object()
_WAKE = object()


def sse_bytes(payload: dict[str, Any] | str) -> bytes:
    """One SSE ``data`` event; dicts are JSON-encoded compactly."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def error_chunk(error: ProxyError) -> bytes:
    return sse_bytes(error.body())


class SSEResponse(EventSourceResponse):
    """An SSE response with keepalive comments that closes ``resources`` when it ends."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        resources: AsyncExitStack | None = None,
        headers: dict[str, str] | None = None,
        shutdown_event: anyio.Event | None = None,
        shutdown_grace_period: float = 0.0,
    ) -> None:
        super().__init__(
            content,
            headers=headers,
            ping=KEEPALIVE_SECONDS,
            sep="\n",
            shutdown_event=shutdown_event,
            # Our pump ends the stream itself after its own grace period; give it a
            # moment more before sse-starlette force-cancels.
            shutdown_grace_period=shutdown_grace_period + 2.0 if shutdown_event else 0.0,
        )
        self._resources = resources

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        # sse-starlette wraps every send in a cancel scope for its optional send timeout.
        # We set none, and the scope costs about as much as the send itself, once per
        # relayed event (issue 7). (An override of a private method: should it be renamed
        # upstream, this is simply no longer called and nothing else changes.)
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._resources is not None:
                with anyio.CancelScope(shield=True):
                    await self._resources.aclose()


async def pump(
    produce: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]],
    *,
    on_error: Callable[[BaseException], ProxyError],
    shutdown_event: anyio.Event | None = None,
    grace_seconds: float = 0.0,
) -> AsyncIterator[bytes]:
    """Yield the chunks ``produce(emit)`` emits, from a producer task.

    ``produce`` must not emit ``[DONE]`` itself: the pump appends it, after one error
    chunk when the producer failed (mapped by ``on_error``) or when shutdown cut it
    short. Closing this generator cancels the producer and waits for it.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
    # Ends that do not come through the queue (the producer cancelled from outside, the
    # shutdown grace period over). They are taken once the queue is empty, so every chunk
    # emitted before them still goes out. Waiting is one ``queue.get()`` per chunk, not a
    # task and an ``asyncio.wait`` per chunk: this loop runs for every relayed event.
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
    stop_task: asyncio.Task[None] | None = None
    if shutdown_event is not None:
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
                yield error_chunk(item)
                break
            yield item
        yield DONE
    finally:
        tasks = [task for task in (producer, stop_task) if task is not None]
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
