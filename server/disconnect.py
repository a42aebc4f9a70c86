"""Cancelling work whose client has gone away.

Starlette does not cancel a handler when its client disconnects before a
non-streaming response is sent; this does. (Streaming responses are covered by
sse-starlette's disconnect listener.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


#: Seconds of work before a watcher for the client leaving is started.
WATCH_AFTER = 0.05


class ClientDisconnected(Exception):
    """The client left before the answer was ready; the work was cancelled."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; cancel it and raise :class:`ClientDisconnected` if the client leaves.

    The request body must already have been read. ``work`` runs in the calling task (no
    task of its own); a watcher task cancels the caller when the client leaves,
    and the cancellation is taken back (``uncancel``) once turned into the exception.
    The watcher starts only once the work has run :data:`WATCH_AFTER` seconds: work done
    sooner (a fast upstream's answer) never pays for one, and a client that leaves is
    noticed at most that much later. (A client gone before its body was read never gets
    here: reading the body reports the disconnect.) When this returns or raises, ``work``
    has finished: cancelled work has unwound.
    """
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always called from a request task
        raise RuntimeError("unless_disconnected needs a running task")
    left = False

    async def watch() -> None:
        nonlocal left
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                left = True
                task.cancel()
                return

    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(WATCH_AFTER, start_watching)
    try:
        return await work
    except asyncio.CancelledError:
        if not left:
            raise  # cancelled from elsewhere (a timeout, shutdown): not ours to absorb
        task.uncancel()
        raise ClientDisconnected from None
    finally:
        timer.cancel()
        if watcher is not None:
            # A watcher blocked in ``receive`` holds nothing; it ends at the next loop turn.
            watcher.cancel()
