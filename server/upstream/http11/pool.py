"""The connection pool: slots, idle kept-alive connections and the queue of waiters.

Contract:

* At most ``max_connections`` connections exist at once, counting those being opened.
* :meth:`ConnectionPool.acquire` hands out the most recently used idle connection of the
  origin, else opens a new one in a free slot, else closes the least recently used idle
  connection of another origin and opens one in its slot, else waits (first come, first
  served) for :meth:`release` / :meth:`retire` — up to the pool timeout
  (``httpx.PoolTimeout``).
* Idle connections that the server closed leave the pool at once (their ``on_lost``);
  those idle for ``keepalive_expiry`` seconds or more are closed before anything is handed
  out, so neither is ever reused.
* Every operation costs O(1) in the number of connections (amortised for expiry).
* After :meth:`aclose`, :meth:`acquire` raises ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

import httpx

from server.upstream.http11.connection import Connection, Origin

#: Opens a connection: ``(origin, connect timeout, on_lost) -> Connection``.
Connector = Callable[[Origin, float | None, Callable[[Connection], None]], Awaitable[Connection]]

#: Seconds :meth:`ConnectionPool.aclose` waits for the sockets it aborted to be closed.
_CLOSE_WAIT = 1.0


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.PoolTimeout("timed out waiting for a free connection"))


class ConnectionPool:
    """Bounded, per-origin pool of :class:`Connection` (see the module docstring)."""

    def __init__(self, max_connections: int, keepalive_expiry: float, connect: Connector) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._connect = connect
        self._slots_used = 0
        self._connections: set[Connection] = set()
        #: Idle connections, least recently used first (so also oldest first).
        self._idle: OrderedDict[Connection, None] = OrderedDict()
        self._idle_by_origin: dict[Origin, OrderedDict[Connection, None]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections that hold a slot (open or being opened)."""
        return self._slots_used

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def acquire(
        self, origin: Origin, pool_timeout: float | None, connect_timeout: float | None
    ) -> Connection:
        """A connection to ``origin`` for one exchange; give it back with release/retire."""
        got = False if self._waiters else self._take(origin)
        if got is False:
            got = await self._wait_for_slot(origin, pool_timeout)
        if isinstance(got, Connection):
            return got
        try:
            connection = await self._connect(origin, connect_timeout, self.retire)
        except BaseException:
            self._free_slot()
            raise
        if self._closed:
            connection.abort()
            self._free_slot()
            raise RuntimeError("LeanTransport is closed")
        self._connections.add(connection)
        return connection

    def release(self, connection: Connection) -> None:
        """Give back a connection after its exchange: kept idle if reusable, else closed."""
        if connection.reusable and not self._closed and connection in self._connections:
            connection.idle_since = time.monotonic()
            self._idle[connection] = None
            by_origin = self._idle_by_origin.get(connection.origin)
            if by_origin is None:
                by_origin = self._idle_by_origin[connection.origin] = OrderedDict()
            by_origin[connection] = None
            self._wake_one()
        else:
            self.retire(connection)

    def retire(self, connection: Connection) -> None:
        """Close ``connection`` and free its slot (idempotent)."""
        if self._drop(connection):
            self._wake_one()

    async def aclose(self) -> None:
        """Close every connection and fail every waiter; wait briefly for the sockets."""
        self._closed = True
        connections = list(self._connections)
        for connection in connections:
            self._drop(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        if connections:
            await asyncio.wait([c.closed for c in connections], timeout=_CLOSE_WAIT)

    # -- internals ---------------------------------------------------------------------
    def _take(self, origin: Origin) -> Connection | bool:
        """An idle connection, ``True`` for a reserved slot, ``False`` if none is free."""
        if self._closed:
            raise RuntimeError("LeanTransport is closed")
        self._close_expired()
        by_origin = self._idle_by_origin.get(origin)
        while by_origin:
            connection, _ = by_origin.popitem()
            del self._idle[connection]
            if not by_origin:
                del self._idle_by_origin[origin]
            if connection.usable_when_idle:
                return connection
            self._drop(connection)
        if self._slots_used < self._max:
            self._slots_used += 1
            return True
        if self._idle:
            self._drop(next(iter(self._idle)))
            self._slots_used += 1
            return True
        return False

    async def _wait_for_slot(self, origin: Origin, pool_timeout: float | None) -> Connection | bool:
        loop = asyncio.get_running_loop()
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        queue_at_front = False
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            if queue_at_front:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            timer = None
            if deadline is not None:
                timer = loop.call_at(deadline, _expire, waiter)
            try:
                await waiter
            except BaseException:
                woken = waiter.done() and not waiter.cancelled() and waiter.exception() is None
                if woken:
                    self._wake_one()  # pass the free slot on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            got = self._take(origin)
            if got is not False:
                return got
            queue_at_front = True

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _free_slot(self) -> None:
        self._slots_used -= 1
        self._wake_one()

    def _drop(self, connection: Connection) -> bool:
        """Close ``connection``; ``True`` if this freed its slot (no waiter is woken)."""
        connection.abort()
        if connection not in self._connections:
            return False
        self._connections.remove(connection)
        if connection in self._idle:
            del self._idle[connection]
            by_origin = self._idle_by_origin[connection.origin]
            del by_origin[connection]
            if not by_origin:
                del self._idle_by_origin[connection.origin]
        self._slots_used -= 1
        return True

    def _close_expired(self) -> None:
        if not self._idle:
            return
        oldest = time.monotonic() - self._expiry
        while self._idle:
            connection = next(iter(self._idle))
            if connection.idle_since > oldest:
                return
            self._drop(connection)
