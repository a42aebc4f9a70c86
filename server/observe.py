"""Per-request observation: request id, metrics, and one structured log line.

A pure ASGI middleware (``BaseHTTPMiddleware`` would buffer streams and break
disconnect detection). Routes add what only they know (model, reasoning mode,
upstream calls, tokens) to ``request.state.summary``, a dict this middleware puts
in the scope before calling them and reads after the last byte went out. What the
request cost upstream (calls, retries, tokens) is counted where it happens, in the
request's :class:`~server.request_context.RequestStats`, and added to the line.

The line never holds a header value other than the validated request id, so no key
can reach it; prompt and answer text appear only when a route adds them (it does so
only with ``CEPO_LOG_CONTENT=true``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics, status_class
from server.request_context import RequestStats, request_stats

logger = logging.getLogger("cepo_proxy.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.encode()
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ROUTES = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/models", "/health", "/ready", "/metrics"}
)


def request_id_from(value: str | None) -> str:
    """The client's id when it is safe to echo and log, else a new one."""
    if value is not None and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class ObserveMiddleware:
    """Assigns the request id and records metrics and the access log line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = None
        for name, value in scope.get("headers") or ():
            if name == _REQUEST_ID_NAME:
                raw_id = value
                break
        request_id = request_id_from(raw_id.decode("latin-1") if raw_id else None)
        id_header = (_REQUEST_ID_NAME, request_id.encode("latin-1"))
        path = scope.get("path", "")
        route = path if path in _ROUTES else "other"
        summary: dict[str, Any] = {"request_id": request_id}
        scope.setdefault("state", {})["summary"] = summary
        started = time.monotonic()
        first_byte: float | None = None
        status = 500
        completed = False
        client_left = False

        async def observed_send(message: Message) -> None:
            nonlocal first_byte, status, completed
            if message["type"] == "http.response.start":
                status = message["status"]
                # No route sets this header itself: appended, not searched for and replaced.
                message["headers"] = [*message.get("headers", ()), id_header]
            elif message["type"] == "http.response.body":
                if first_byte is None and message.get("body"):
                    first_byte = time.monotonic()
                if not message.get("more_body", False):
                    completed = True
            await send(message)

        async def observed_receive() -> Message:
            nonlocal client_left
            message = await receive()
            if message["type"] == "http.disconnect" and not completed:
                client_left = True
            return message

        stats = RequestStats()
        stats_token = request_stats.set(stats)
        in_flight = self.metrics.requests_in_flight.labels(route)
        in_flight.inc()
        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            in_flight.dec()
            request_stats.reset(stats_token)
            ended = time.monotonic()
            mode = str(summary.get("mode", "none"))
            model = str(summary.get("model", "none")) if status < 400 else "invalid"
            self.metrics.requests.labels(route, model, mode, status_class(status)).inc()
            self.metrics.request_duration.labels(route, mode).observe(ended - started)
            if first_byte is not None:
                self.metrics.time_to_first_byte.labels(route, mode).observe(first_byte - started)
            if route not in ("/health", "/metrics", "/ready"):
                fields = {
                    **summary,
                    "method": scope.get("method"),
                    "route": route,
                    "status": status,
                    "duration_ms": round((ended - started) * 1000, 1),
                    "upstream_calls": stats.upstream_calls,
                    "upstream_retries": stats.upstream_retries,
                    "prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                }
                if client_left:
                    fields["outcome"] = "client_disconnected"
                fields.setdefault("outcome", _outcome(status))
                if first_byte is not None:
                    fields["ttfb_ms"] = round((first_byte - started) * 1000, 1)
                logger.info("request", extra=fields)


def add_answer(summary: dict[str, Any], text: str) -> None:
    """Add one choice's answer text to a summary (a list once there are several)."""
    if "answer" not in summary:
        summary["answer"] = text
    elif isinstance(summary["answer"], list):
        summary["answer"].append(text)
    else:
        summary["answer"] = [summary["answer"], text]


def _outcome(status: int) -> str:
    """The outcome of a request whose route did not name one."""
    if status < 400:
        return "ok"
    if status == 499:
        return "client_disconnected"
    return "rejected" if status < 500 else "failed"
