"""The one way tests start the proxy: ``create_app(settings)`` under uvicorn in a thread.

:func:`proxy_in_thread` serves the app on a free loopback port
(:func:`tests.servers.serve_in_thread`) behind a thin ASGI wrapper, :class:`LoopProbe`, that
remembers the event loop the app runs on, so a test can count that loop's asyncio tasks from
its own thread (:meth:`LoopProbe.task_count`). A request that leaks leaves a task behind;
pooled keep-alive connections do not own tasks, uvicorn's idle connections neither, so after
every request has ended the count is back at its baseline. The ``make_proxy`` fixture
(``tests/conftest.py``) and the reliability suite both start proxies through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import load_settings
from server.app import create_app
from server.http_protocol import protocol_class
from tests.servers import serve_in_thread

#: Seconds a count or a condition may take to settle before a test fails.
SETTLE_SECONDS = 3.0


class LoopProbe:
    """An ASGI wrapper that records the event loop its app runs on (at lifespan start-up)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        #: HTTP requests the app has finished (read from any thread).
        self.completed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.completed += 1

    def task_count(self) -> int:
        """The number of unfinished asyncio tasks on the app's loop (this probe's own
        counting task excluded). Safe to call from any other thread."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("the app has not started")

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1

        return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=SETTLE_SECONDS)

    def describe_tasks(self) -> list[str]:
        """What each unfinished task on the app's loop is doing (for failure messages)."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("the app has not started")

        async def describe() -> list[str]:
            me = asyncio.current_task()
            found = []
            for task in asyncio.all_tasks():
                if task is me:
                    continue
                frames = task.get_stack(limit=3)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
                found.append(f"{task.get_name()} {task.get_coro()!r} at {where}")
            return found

        return asyncio.run_coroutine_threadsafe(describe(), loop).result(timeout=SETTLE_SECONDS)

    def settle(self, baseline: int, timeout: float = SETTLE_SECONDS) -> int:
        """Wait until the task count is at most ``baseline``; return the last count seen."""
        deadline = time.monotonic() + timeout
        count = self.task_count()
        while count > baseline and time.monotonic() < deadline:
            time.sleep(0.02)
            count = self.task_count()
        return count


@dataclass
class InThreadProxy:
    url: str
    probe: LoopProbe

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def proxy_in_thread(**settings: Any) -> Iterator[InThreadProxy]:
    """Serve ``create_app(load_settings(None, **settings))`` in a thread with a loop probe."""
    probe = LoopProbe(create_app(load_settings(None, **settings)))
    with serve_in_thread(probe, http=protocol_class()) as url:
        yield InThreadProxy(url, probe)
