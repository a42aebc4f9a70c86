"""Prometheus metrics, one registry per app (so tests can build many apps).

Names follow Prometheus conventions (``cepo_proxy_`` prefix, ``_total``, ``_seconds``);
labels are low-cardinality by construction: route, model, reasoning mode, status
class, stage, upstream kind. Never a key, a prompt or a free-form string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from server.request_context import RequestStats

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_RATELIMIT_PREFIX = b"x-ratelimit-remaining-"


def status_class(status: int) -> str:
    """``"2xx"`` for 200 and so on."""
    return f"{status // 100}xx"


class _RememberedChildren:
    """``labels(*values)`` looked up in a dict of the children already made (prometheus_client
    converts, checks and takes a lock on every call). Values by name take
    prometheus_client's own path; either way the children are the same objects."""

    def labels(self, *values: Any, **by_name: Any) -> Any:
        if by_name:
            return super().labels(*values, **by_name)  # type: ignore[misc]
        children: dict[tuple[Any, ...], Any] = self.__dict__.setdefault("_remembered", {})
        child = children.get(values)
        if child is None:
            child = children[values] = super().labels(*values)  # type: ignore[misc]
        return child


class Counter(_RememberedChildren, prometheus_client.Counter):
    pass


class Gauge(_RememberedChildren, prometheus_client.Gauge):
    pass


class Histogram(_RememberedChildren, prometheus_client.Histogram):
    pass


class Metrics:
    """Every metric the proxy exports."""

    def __init__(self, upstream_kind: str) -> None:
        self.kind = upstream_kind
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cepo_proxy_requests",
            "Requests answered, by route, model, reasoning mode and status class.",
            ["route", "model", "mode", "status_class"],
            registry=r,
        )
        self.request_duration = Histogram(
            "cepo_proxy_request_duration_seconds",
            "Time from request to the last byte of the response.",
            ["route", "mode"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_first_byte = Histogram(
            "cepo_proxy_time_to_first_byte_seconds",
            "Time from request to the first byte of the response body.",
            ["route", "mode"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "cepo_proxy_stage_duration_seconds",
            "Duration of CePO stages (plan, execute, refine, final, rate).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.candidates_dropped = Counter(
            "cepo_proxy_candidates_dropped", "CePO candidates dropped after failures.", registry=r
        )
        self.requests_in_flight = Gauge(
            "cepo_proxy_requests_in_flight", "Requests being served.", ["route"], registry=r
        )
        self.upstream_calls = Counter(
            "cepo_proxy_upstream_calls",
            "Upstream calls finished, by status class (`error` for no response).",
            ["kind", "status_class"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "cepo_proxy_upstream_call_duration_seconds",
            "Duration of upstream calls, to the end of the body.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "cepo_proxy_upstream_errors",
            "Upstream failures by HTTP status (`connect`, `timeout`, `protocol` otherwise).",
            ["kind", "status"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "cepo_proxy_upstream_retries", "Upstream calls retried.", ["kind"], registry=r
        )
        self.upstream_tokens = Counter(
            "cepo_proxy_upstream_tokens",
            "Tokens reported by the upstream (direction `in` = prompt, `out` = completion).",
            ["kind", "direction"],
            registry=r,
        )
        self.upstream_in_flight = Gauge(
            "cepo_proxy_upstream_calls_in_flight", "Upstream calls open.", ["kind"], registry=r
        )
        self.upstream_cancelled = Counter(
            "cepo_proxy_upstream_calls_cancelled",
            "Upstream calls cancelled before their end (client left, deadline, surplus work).",
            ["kind"],
            registry=r,
        )
        self.ratelimit_remaining = Gauge(
            "cepo_proxy_upstream_ratelimit_remaining",
            "The upstream's x-ratelimit-remaining-* headers, by resource.",
            ["kind", "resource"],
            registry=r,
        )

    def record_tokens(
        self, prompt_tokens: int, completion_tokens: int, stats: RequestStats
    ) -> None:
        """Count one upstream call's tokens, here and in its request's ``stats``."""
        self.upstream_tokens.labels(self.kind, "in").inc(max(prompt_tokens, 0))
        self.upstream_tokens.labels(self.kind, "out").inc(max(completion_tokens, 0))
        stats.prompt_tokens += max(prompt_tokens, 0)
        stats.completion_tokens += max(completion_tokens, 0)

    def record_call(self, stats: RequestStats) -> None:
        """Count an upstream call in its request's ``stats`` (the metrics count it by
        outcome when it ends)."""
        stats.upstream_calls += 1

    def record_retry(self, stats: RequestStats) -> None:
        self.upstream_retries.labels(self.kind).inc()
        stats.upstream_retries += 1

    def record_rate_limits(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Set a gauge per numeric ``x-ratelimit-remaining-<resource>`` header (``headers``
        as raw name/value pairs: called on every upstream answer, so nothing is decoded
        unless it is one of these)."""
        for name, value in headers:
            lowered = name.lower()
            if not lowered.startswith(_RATELIMIT_PREFIX):
                continue
            resource = lowered.removeprefix(_RATELIMIT_PREFIX).decode("latin-1")
            if not resource or len(resource) > 64:
                continue
            try:
                self.ratelimit_remaining.labels(self.kind, resource).set(float(value))
            except ValueError:
                continue

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
