"""Tools the reliability tests share: the in-thread proxy with a view of its event loop,
CePO stage recognition, the OpenAI error envelope check, SSE parsing and a raw socket client.

The proxy runs under uvicorn in a thread (``tests.servers.serve_in_thread``); a thin ASGI
wrapper (:class:`LoopProbe`) remembers the event loop the app runs on, so a test can count
that loop's asyncio tasks from its own thread (:meth:`LoopProbe.task_count`). A request that
leaks leaves a task behind; pooled keep-alive connections do not own tasks, uvicorn's idle
connections neither, so after every request has ended the count is back at its baseline.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import load_settings
from reasoning.prompts import HEADINGS
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


# -- CePO stages ----------------------------------------------------------------------------

#: The stage whose heading opens the engine's task message, by heading text.
_STAGE_BY_HEADING = {heading: stage for stage, heading in HEADINGS.items()}


def stage_of(body: Any) -> str | None:
    """The CePO step an upstream request body belongs to (``plan``, ``execute``, ``refine``,
    ``final``, ``fallback``, ``rate``, ``compare``, ``diversity``), or ``None`` for a call
    that is not a CePO step (a pass-through).

    Every step's task is the last user message and opens with that step's heading line
    (``reasoning.prompts.HEADINGS``).
    """
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    content = messages[-1].get("content")
    if not isinstance(content, str):
        return None
    first_line = content.split("\n", 1)[0]
    return _STAGE_BY_HEADING.get(first_line)


# -- responses ------------------------------------------------------------------------------

ENVELOPE_FIELDS = {"message", "type", "param", "code"}


def is_envelope(payload: Any) -> bool:
    """True when ``payload`` is exactly the OpenAI error envelope."""
    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return False
    error = payload["error"]
    return (
        isinstance(error, dict)
        and set(error) == ENVELOPE_FIELDS
        and isinstance(error["message"], str)
        and bool(error["message"])
        and isinstance(error["type"], str)
    )


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    """Assert ``response`` is an error (4xx / 5xx, never 500) in the envelope; return it."""
    assert response.status_code >= 400, response.text[:300]
    assert response.status_code != 500, response.text[:300]
    assert "Traceback" not in response.text
    payload = response.json()
    assert is_envelope(payload), payload
    error: dict[str, Any] = payload["error"]
    return error


def sse_data(text: str) -> list[str]:
    """The ``data`` values of an SSE body, in order (one-line events, as the proxy sends)."""
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


@dataclass
class StreamOutcome:
    """A streamed response read to its end: its chunks, the error chunk if any, the text."""

    chunks: list[dict[str, Any]]
    error: dict[str, Any] | None
    content: str
    finish_reasons: list[str]
    unparsed: list[str]


def read_stream(lines: list[str]) -> StreamOutcome:
    """Interpret a proxy stream's data lines; asserts it ends with exactly one ``[DONE]`` and
    that an error chunk, if any, is the last chunk before it."""
    assert lines and lines[-1] == "[DONE]", lines[-3:]
    assert lines.count("[DONE]") == 1
    chunks: list[dict[str, Any]] = []
    unparsed: list[str] = []
    error: dict[str, Any] | None = None
    for position, line in enumerate(lines[:-1]):
        try:
            chunk = json.loads(line)
        except ValueError:
            unparsed.append(line)
            continue
        if isinstance(chunk, dict) and "error" in chunk:
            assert is_envelope(chunk), chunk
            assert position == len(lines) - 2, "an error chunk must be the last before [DONE]"
            error = chunk["error"]
            continue
        chunks.append(chunk)
    content = ""
    finish: list[str] = []
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            if choice.get("finish_reason"):
                finish.append(choice["finish_reason"])
    return StreamOutcome(chunks, error, content, finish, unparsed)


# -- a raw HTTP/1.1 client for leaving at exact points ----------------------------------------


class RawRequest:
    """One HTTP/1.1 request over a plain socket, for tests that must control the bytes sent
    (invalid headers) or leave at an exact point of the response (``read_until``, ``close``).
    """

    def __init__(
        self, base_url: str, timeout: float = 10.0, *, probe: LoopProbe | None = None
    ) -> None:
        #: The probe of the proxy it talks to, when the test wants to know it finished, and
        #: how many requests that proxy had finished before this one was sent.
        self.probe = probe
        self.completed_before = probe.completed if probe is not None else 0
        url = httpx.URL(base_url)
        assert url.host in ("127.0.0.1", "localhost")
        self._sock = socket.create_connection(("127.0.0.1", url.port or 80), timeout=timeout)
        self.received = b""

    def send(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        raw_headers: bytes = b"",
    ) -> None:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
            "Connection: close",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n").encode("latin-1") + raw_headers + b"\r\n"
        self._sock.sendall(head + body)

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is (a request no client library would produce)."""
        self._sock.sendall(data)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send("POST", path, json.dumps(body).encode(), headers)

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bool:
        """Read until ``marker`` was received (True) or the peer closed / timeout (False)."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                return False
            if not data:
                return False
            self.received += data
        return True

    def read_all(self, timeout: float = 10.0) -> bytes:
        self.read_until(b"\x00never\x00", timeout)
        return self.received

    def status(self) -> int | None:
        head = self.received.split(b"\r\n", 1)[0]
        parts = head.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None

    def close(self) -> None:
        """Leave: close the socket at once (a client that went away)."""
        self._sock.close()
