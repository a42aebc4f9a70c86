"""Per-request observation: request id, metrics, and one structured log line.

A pure ASGI middleware (``BaseHTTPMiddleware`` would buffer streams and break
disconnect detection). It creates the request's
:class:`~server.request_context.RequestContext` where the request enters; the layers
below fill in what only they know (model, reasoning mode, outcome; upstream calls,
retries and tokens in its stats), and this middleware reads it after the last byte went
out.

The line never holds a header value other than the validated request id, so no key
can reach it; prompt and answer text appear only when a route adds them (it does so
only with ``CEPO_LOG_CONTENT=true``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics, status_class
from server.request_context import context_of

logger = logging.getLogger("cepo_proxy.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.encode()
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
        raw_id = None
        for name, value in scope.get("headers") or ():
            if name == _REQUEST_ID_NAME:
                raw_id = value
                break
        request_id = request_id_from(raw_id.decode("latin-1") if raw_id else None)
        id_header = (_REQUEST_ID_NAME, request_id.encode("latin-1"))
        path = scope.get("path", "")
        route = path if path in _ROUTES else "other"
        context = context_of(scope)
        context.request_id = request_id
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

        in_flight = self.metrics.requests_in_flight.labels(route)
        in_flight.inc()
        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            in_flight.dec()
            ended = time.monotonic()
            mode = context.mode
            model = context.model if status < 400 else "invalid"
            self.metrics.requests.labels(route, model, mode, status_class(status)).inc()
            self.metrics.request_duration.labels(route, mode).observe(ended - started)
            if first_byte is not None:
                self.metrics.time_to_first_byte.labels(route, mode).observe(first_byte - started)
            if route not in ("/health", "/metrics", "/ready"):
                fields = {
                    **context.log_fields(),
                    "method": scope.get("method"),
                    "route": route,
                    "status": status,
                    "duration_ms": round((ended - started) * 1000, 1),
                }
                if client_left:
                    fields["outcome"] = "client_disconnected"
                fields.setdefault("outcome", _outcome(status))
                if first_byte is not None:
                    fields["ttfb_ms"] = round((first_byte - started) * 1000, 1)
                logger.info("request", extra=fields)


def _outcome(status: int) -> str:
    """The outcome of a request whose route did not name one."""
    if status < 400:
        return "ok"
    if status == 499:
        return "client_disconnected"
    return "rejected" if status < 500 else "failed"
