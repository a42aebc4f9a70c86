"""``LeanTransport``: the httpx transport over the pool, and the response body stream.

See the package docstring (:mod:`server.upstream.http11`) for the contract.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from server.upstream.http11.connection import Connection, Origin, open_connection
from server.upstream.http11.pool import ConnectionPool
from server.upstream.http11.request import send_request

_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_HTTP11 = b"HTTP/1.1"


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio and httptools, with a bounded per-origin keep-alive pool."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._pool = ConnectionPool(max_connections, keepalive_expiry, self._open)

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool (for metrics and tests)."""
        return self._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        default_port = _DEFAULT_PORTS.get(scheme)
        if default_port is None:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        origin: Origin = (scheme, url.raw_host.decode("ascii"), url.port or default_port)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        pool = self._pool
        connection = await pool.acquire(origin, timeouts.get("pool"), timeouts.get("connect"))
        read_timeout: float | None = timeouts.get("read")
        try:
            connection.begin(head_only=request.method == "HEAD")
            await send_request(connection, request, timeouts.get("write"))
            status, reason, headers = await connection.receive_head(read_timeout)
        except BaseException:
            pool.retire(connection)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=ResponseStream(connection, pool.release, pool.retire, read_timeout),
            extensions={"http_version": _HTTP11, "reason_phrase": reason.strip()},
        )

    async def aclose(self) -> None:
        """Close every connection; later requests raise ``RuntimeError``."""
        await self._pool.aclose()

    async def _open(
        self, origin: Origin, connect_timeout: float | None, on_lost: Callable[[Connection], None]
    ) -> Connection:
        context = None
        if origin[0] == b"https":
            if self._ssl_context is None:
                # Built on first use: loading the CA certificates takes tens of milliseconds.
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        return await open_connection(
            origin, ssl_context=context, connect_timeout=connect_timeout, on_lost=on_lost
        )


class ResponseStream(httpx.AsyncByteStream):
    """A response body: yields what has arrived at each wake-up, coalesced.

    Closing it after the whole message gives the connection back to the pool; closing it
    earlier, an error while reading, or cancellation closes the socket and frees the slot.
    """

    def __init__(
        self,
        connection: Connection,
        release: Callable[[Connection], None],
        retire: Callable[[Connection], None],
        read_timeout: float | None,
    ) -> None:
        self._connection = connection
        self._release = release
        self._retire = retire
        self._read_timeout = read_timeout
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        try:
            while True:
                data = connection.take_body()
                if data:
                    return data
                if connection.message_complete:
                    raise StopAsyncIteration
                await connection.wait_for_body(self._read_timeout)
        except StopAsyncIteration:
            raise
        except BaseException:
            self._close_now()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release(self._connection)

    def _close_now(self) -> None:
        if not self._closed:
            self._closed = True
            self._retire(self._connection)
