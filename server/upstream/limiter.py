"""A concurrency limit on upstream calls that serves the oldest request first.

A plain semaphore wakes waiters in arrival order of *calls*; a CePO request issues
many calls over time, so under a burst a late request's early calls would overtake
an old request's later ones and every request would finish late. Here each waiter
carries its request's start time (see :data:`request_priority`) and the slot goes to
the oldest request waiting; calls of the same request keep their arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from server.request_context import request_priority


class FairLimiter:
    """At most ``limit`` holders at once; waiters are served oldest request first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_use = 0
        self.peak = 0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiters if not future.done())

    async def acquire(self) -> None:
        """Take a slot, waiting (oldest request first) while all are held; pair with
        :meth:`release`."""
        if self.in_use < self.limit and not self._waiters:
            self._take()
            return
        priority = request_priority.get()
        if priority is None:
            priority = time.monotonic()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was handed over just as we were cancelled: pass it on.
                self.release()
            raise

    def release(self) -> None:
        self.in_use -= 1
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._take()
                future.set_result(None)
                return

    def _take(self) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
