"""A transport that splits the upstream connections over several small httpx pools.

httpcore's connection pool does work proportional to the square of its connections on
every request start and end (``AsyncConnectionPool._assign_requests_to_connections``
re-checks every connection, and counts them once per idle one). With a hundred upstream
connections, as CePO fan-out under concurrent requests needs, the proxy spent most of its
CPU there (found by the benchmark, issue 7: 8 concurrent CePO requests cost 0.5 s of CPU
each instead of 0.15 s). Pools of at most :data:`SHARD_SIZE` connections keep that cost
small; a request goes to the pool with the fewest requests in flight (the first on a tie,
so sequential calls keep reusing the same kept-alive connection).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import httpx

#: Connections per pool.
SHARD_SIZE = 16


class ShardedTransport(httpx.AsyncBaseTransport):
    """``max_connections`` upstream connections over pools of at most ``SHARD_SIZE``."""

    def __init__(self, max_connections: int, *, shard_size: int = SHARD_SIZE) -> None:
        count = max(1, math.ceil(max_connections / shard_size))
        per_shard = math.ceil(max_connections / count)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self.shards = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self.in_flight = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self.shards)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight[index] -= 1

        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(response.stream, release)
        return response

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """The response body; closing it (however the response ends) frees the shard's slot."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()
