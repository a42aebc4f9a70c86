"""A bound on reasoning requests in progress, with a short wait and then 429.

A CePO request costs dozens of upstream calls; past ``CEPO_MAX_CONCURRENT_REASONING``
a new one waits at most ``CEPO_REASONING_QUEUE_TIMEOUT`` seconds for a place, then is
told to come back (429 with ``Retry-After``) instead of joining an unbounded queue.
"""

from __future__ import annotations

import asyncio
import math

from server.errors import ProxyError


class Admission:
    """At most ``limit`` reasoning requests at once; every :meth:`enter` that returned
    must be paired with exactly one :meth:`leave`."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(limit)

    @property
    def in_use(self) -> int:
        """Places taken right now."""
        return self.limit - self._slots._value

    async def enter(self) -> None:
        """Take a place or raise a 429 :class:`ProxyError`."""
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise ProxyError(
                429,
                f"too many reasoning requests in progress (limit {self.limit}); retry shortly",
                error_type="rate_limit_error",
                code="too_many_reasoning_requests",
                headers={"Retry-After": str(max(1, math.ceil(self.wait_seconds)))},
            ) from None

    def leave(self) -> None:
        self._slots.release()
