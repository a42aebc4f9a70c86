"""Per-request observation: request id, metrics, and one structured log line.

A pure ASGI middleware (``BaseHTTPMiddleware`` would buffer streams and break
disconnect detection). Routes add what only they know (model, reasoning mode,
upstream calls, tokens) to ``request.state.summary``, a dict this middleware puts
in the scope before calling them and reads after the last byte went out.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics, status_class

logger = logging.getLogger("cepo_proxy.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ROUTES = frozenset({"/v1/chat/completions", "/v1/models", "/health", "/ready", "/metrics"})


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
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(REQUEST_ID_HEADER.encode())
        request_id = request_id_from(raw_id.decode("latin-1") if raw_id else None)
        path = scope.get("path", "")
        route = path if path in _ROUTES else "other"
        summary: dict[str, Any] = {"request_id": request_id}
        scope.setdefault("state", {})["summary"] = summary
        started = time.monotonic()
        first_byte: float | None = None
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal first_byte, status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif (
                message["type"] == "http.response.body"
                and first_byte is None
                and message.get("body")
            ):
                first_byte = time.monotonic()
            await send(message)

        in_flight = self.metrics.requests_in_flight.labels(route)
        in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            in_flight.dec()
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
                }
                if first_byte is not None:
                    fields["ttfb_ms"] = round((first_byte - started) * 1000, 1)
                logger.info("request", extra=fields)
