"""Per-request values that upstream calls need, carried in context variables.

The route sets them once; every task the engine spawns inherits them, so the
upstream client can order calls by request age and respect the request's deadline
without either being threaded through the engine.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass

#: Start time (``time.monotonic()``) of the request on whose behalf calls are made.
request_priority: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_priority", default=None
)
#: Absolute deadline (``time.monotonic()``) of that request.
request_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_deadline", default=None
)
#: Bearer token to send upstream instead of the configured key (forward mode).
forwarded_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forwarded_key", default=None
)


@dataclass(slots=True)
class RequestStats:
    """What one request cost upstream, for its access-log line (mutated in place by every
    task serving the request, all on one event loop)."""

    upstream_calls: int = 0
    upstream_retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


#: The stats of the request being served (set by the observation middleware).
request_stats: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "request_stats", default=None
)


def seconds_left() -> float | None:
    """Seconds until the current request's deadline, or ``None`` without one."""
    deadline = request_deadline.get()
    return None if deadline is None else deadline - time.monotonic()
