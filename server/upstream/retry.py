"""When to retry an upstream call and how long to wait first."""

from __future__ import annotations

import random
from collections.abc import Mapping

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BASE_DELAY = 0.25
MAX_DELAY = 20.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait the upstream asked for: ``retry-after-ms`` or ``Retry-After`` (seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
        if seconds >= 0:
            return min(seconds, MAX_DELAY * 3)
    return None


def backoff_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    The upstream's own ``Retry-After`` wins; otherwise exponential backoff with full
    jitter, capped at :data:`MAX_DELAY`.
    """
    if headers is not None:
        asked = retry_after_seconds(headers)
        if asked is not None:
            return asked
    ceiling = min(MAX_DELAY, BASE_DELAY * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)
