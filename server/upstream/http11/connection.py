"""One HTTP/1.1 client connection: an asyncio protocol whose bytes feed an httptools parser.

A :class:`Connection` carries one exchange at a time. The protocol callbacks only record
state (response head, buffered body pieces, end of message, EOF, failure) and wake the one
coroutine waiting on it; every wait is bounded by a timer, never by a background task.

Contract:

* :meth:`Connection.begin` starts an exchange; :meth:`receive_head` returns the final
  (non-1xx) response head; :meth:`take_body` / :meth:`wait_for_body` hand out the body;
  :attr:`reusable` says whether the connection may carry another exchange.
* Reading pauses while more than :data:`HIGH_WATER` body bytes wait to be taken and resumes
  when they are taken.
* Failures surface as httpx exceptions only: ``ReadTimeout``, ``WriteTimeout``,
  ``ReadError`` (reset or closed by us), ``RemoteProtocolError`` (EOF too early, malformed
  response). Body bytes that arrived before a failure are handed out first.
* The ``on_lost`` callback given at creation runs exactly once, when the socket is gone.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Final, cast

import httptools
import httpx

#: Buffered body bytes above which the socket is no longer read.
HIGH_WATER: Final = 256 * 1024

#: ``(scheme, host, port)``, e.g. ``(b"http", "127.0.0.1", 8000)``.
Origin = tuple[bytes, str, int]

#: Headers whose presence means the body is framed (not delimited by EOF).
_FRAMING_HEADERS: Final = (b"content-length", b"transfer-encoding")


def _expire(waiter: asyncio.Future[None], error: type[httpx.TimeoutException]) -> None:
    if not waiter.done():
        waiter.set_exception(error("timed out"))


class Connection(asyncio.Protocol):
    """A kept-alive HTTP/1.1 connection to one origin (see the module docstring)."""

    def __init__(self, origin: Origin, on_lost: Callable[[Connection], None]) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._in_use = False
        self._closing = False
        self._eof = False
        self._lost = False
        #: Resolved when the socket is closed.
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._begin_message(head_only=False)

    def _begin_message(self, *, head_only: bool) -> None:
        self._head_only = head_only
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._head_complete = False
        self._message_complete = False
        self._keep_alive = False
        self._body: list[bytes] = []
        self._buffered = 0
        self._received_any = False
        self._failure: httpx.TransportError | None = None

    # -- exchange API ------------------------------------------------------------------
    def begin(self, *, head_only: bool) -> None:
        """Start an exchange; ``head_only`` for a HEAD request (its response has no body)."""
        self._begin_message(head_only=head_only)
        self._in_use = True

    @property
    def reusable(self) -> bool:
        """The exchange ended cleanly and both sides allow another one on this socket."""
        return self._message_complete and self._keep_alive and self.usable_when_idle

    @property
    def usable_when_idle(self) -> bool:
        """Idle and still open: the server has not closed it or sent stray bytes."""
        return not (self._closing or self._eof or self._lost)

    @property
    def message_complete(self) -> bool:
        return self._message_complete

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending; dropped once the socket is gone (the read reports it)."""
        if not self._lost and self._transport is not None:
            self._transport.write(data)

    async def drain(self, write_timeout: float | None) -> None:
        """Wait until the write buffer is below its high-water mark (``WriteTimeout``)."""
        if not self._write_paused or self._lost:
            return
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        try:
            await self._until(waiter, write_timeout, httpx.WriteTimeout)
        finally:
            self._drain_waiter = None

    async def receive_head(
        self, read_timeout: float | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """``(status, reason, raw headers)`` of the final response, once its head is parsed."""
        while not self._head_complete:
            if self._failure is not None:
                raise self._failure
            if self._eof or self._lost:
                if not self._received_any:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                raise httpx.RemoteProtocolError("peer closed connection in the response head")
            await self._wait(read_timeout)
        return self._status, self._reason, self._headers

    def take_body(self) -> bytes:
        """Every body byte received and not yet taken (``b""`` if none)."""
        body = self._body
        if not body:
            return b""
        data = body[0] if len(body) == 1 else b"".join(body)
        self._body = []
        self._buffered = 0
        if self._read_paused:
            self._read_paused = False
            if not self._lost and self._transport is not None:
                self._transport.resume_reading()
        return data

    async def wait_for_body(self, read_timeout: float | None) -> None:
        """Wait for more body bytes or the end of the message; raise if neither can come."""
        if self._body or self._message_complete:
            return
        if self._failure is not None:
            raise self._failure
        if self._eof or self._lost:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
            )
        await self._wait(read_timeout)

    def abort(self) -> None:
        """Close the socket now (no graceful TLS shutdown); the peer sees the disconnect."""
        if not self._message_complete and self._failure is None:
            self._failure = httpx.ReadError("connection closed by the client")
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    async def _wait(self, read_timeout: float | None) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await self._until(waiter, read_timeout, httpx.ReadTimeout)
        finally:
            self._waiter = None

    async def _until(
        self,
        waiter: asyncio.Future[None],
        seconds: float | None,
        error: type[httpx.TimeoutException],
    ) -> None:
        """Await ``waiter``; after ``seconds`` it fails with ``error``. (A timer on the
        future, not ``asyncio.timeout``: this runs for every read, and no task is involved.)"""
        timer = None
        if seconds is not None:
            timer = self._loop.call_later(seconds, _expire, waiter, error)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self._in_use:
            # Bytes nobody asked for: the connection cannot be trusted any more.
            self.abort()
            return
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("protocol upgrades are not supported"))
        except httptools.HttpParserError as error:
            self._fail(httpx.RemoteProtocolError(f"malformed response: {error}"))
        self._wake()

    def eof_received(self) -> bool | None:
        self._reach_eof()
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if exc is not None and self._failure is None and not self._message_complete:
            self._failure = httpx.ReadError(str(exc) or type(exc).__name__)
        self._reach_eof()
        self._wake()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)
        self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        if self._failure is None:
            self._failure = error
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def _reach_eof(self) -> None:
        """EOF ends a body that has no framing headers (read until close)."""
        self._eof = True
        if (
            self._head_complete
            and not self._message_complete
            and self._failure is None
            and not any(name.lower() in _FRAMING_HEADERS for name, _ in self._headers)
        ):
            self._message_complete = True
            self._keep_alive = False

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._message_complete:
            # A second response to one request: stop parsing, never reuse the connection.
            raise httpx.RemoteProtocolError("bytes after the end of the response")

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            # 1xx interim response: forget it and wait for the final one.
            self._interim = True
            self._headers = []
            self._reason = b""
            return
        self._status = status
        self._head_complete = True
        if self._head_only:
            self._message_complete = True
            self._keep_alive = False

    def on_body(self, body: bytes) -> None:
        if self._head_only:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._head_only:
            return
        self._message_complete = True
        self._keep_alive = self._parser.should_keep_alive()


async def open_connection(
    origin: Origin,
    *,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float | None,
    on_lost: Callable[[Connection], None],
) -> Connection:
    """A new connection to ``origin`` (``ConnectTimeout`` / ``ConnectError`` on failure)."""
    loop = asyncio.get_running_loop()
    _, host, port = origin
    try:
        async with asyncio.timeout(connect_timeout):
            _, connection = await loop.create_connection(
                lambda: Connection(origin, on_lost),
                host,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
    except TimeoutError as error:
        raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from error
    except OSError as error:
        raise httpx.ConnectError(f"cannot connect to {host}:{port}: {error}") from error
    return connection
