"""A concurrency limit on upstream calls that serves the oldest request first.

A plain semaphore wakes waiters in arrival order of *calls*; a CePO request issues
many calls over time, so under a burst a late request's early calls would overtake
an old request's later ones and every request would finish late. Here each waiter
carries its request's start time (``RequestContext.priority``) and the slot goes to
the oldest request waiting; calls of the same request keep their arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FairLimiter:
    """At most ``limit`` holders at once; waiters are served oldest request first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_use = 0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: float) -> None:
        """Take a slot, waiting while all are held (lowest ``priority`` first: the start
        time of the caller's request); pair with :meth:`release`."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return
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
                self.in_use += 1
                future.set_result(None)
                return
