"""Access control for ``/v1/*`` (and ``/metrics`` when asked): client keys or forwarding.

With ``CEPO_API_KEYS`` set, a request needs ``Authorization: Bearer <key>`` matching one
of them (constant-time comparison). With ``CEPO_FORWARD_CLIENT_KEY`` the caller's own
bearer token is sent upstream instead of the configured key. ``/health`` and ``/ready``
are always open. Keys never appear in a response or a log line.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import Settings
from server.errors import ProxyError
from server.request_context import context_of


def bearer_token(scope: Scope) -> str | None:
    """The token of the first ``Authorization: Bearer <token>`` header, else ``None``."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class AuthMiddleware:
    """Pure ASGI middleware: rejects unauthenticated protected requests with a 401 in the
    OpenAI envelope before any of their body is read; in forward mode, puts the caller's
    token in the request's context (``RequestContext.forwarded_key``) for the upstream."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.keys = [key.get_secret_value().encode() for key in settings.api_keys]
        self.forward = settings.forward_client_key
        self.protect_metrics = settings.metrics_require_key

    def _protected(self, path: str) -> bool:
        return path.startswith("/v1/") or (self.protect_metrics and path == "/metrics")

    def _accepted(self, token: str | None) -> bool:
        if token is None:
            return False
        candidate = token.encode()
        # Compare against every key so the time taken does not reveal which one matched.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if self.keys and not self._accepted(token):
            await _reject(scope, receive, send, "a valid API key is required")
            return
        if self.forward:
            if token is None:
                await _reject(
                    scope, receive, send, "an upstream API key is required as bearer token"
                )
                return
            context_of(scope).forwarded_key = token
        await self.app(scope, receive, send)


async def _reject(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    error = ProxyError(
        401,
        message,
        error_type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )
    await error.response()(scope, receive, send)
