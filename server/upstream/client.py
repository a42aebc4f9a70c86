"""HTTP calls to the upstream, over the app's one shared ``httpx.AsyncClient``.

Every call holds a slot of the fair limiter for its whole life (body included),
is retried on connection failures and 429 / 502 / 503 / 504 with backoff (the
upstream's ``Retry-After`` wins), bounded by ``max_retries`` and the request's
deadline, and is retried only before any byte of it reached the caller. Streams are
opened by :meth:`UpstreamClient.stream` and always closed when its ``async with``
ends, whatever the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from config.upstream_kinds import UpstreamKind
from reasoning.llm import LLMError, LLMTimeout
from server.metrics import Metrics, status_class
from server.request_context import RequestContext
from server.upstream.errors import upstream_http_error
from server.upstream.fixes import prepare_body
from server.upstream.http_client import UpstreamHTTPClient
from server.upstream.limiter import FairLimiter
from server.upstream.retry import RETRY_STATUSES, backoff_delay

logger = logging.getLogger("cepo_proxy.upstream")

#: Seconds spent reading what is left of a finished stream (see :func:`drain`).
DRAIN_SECONDS = 0.25


class UpstreamClient:
    """Calls to one OpenAI-compatible upstream."""

    def __init__(
        self,
        http: UpstreamHTTPClient,
        *,
        base_url: str,
        api_key: str | None,
        kind: UpstreamKind,
        limiter: FairLimiter,
        max_retries: int,
        metrics: Metrics,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.kind = kind
        self.limiter = limiter
        self.max_retries = max_retries
        self.metrics = metrics
        self._urls: dict[str, httpx.URL] = {}

    # -- public ---------------------------------------------------------------------
    async def get_json(self, path: str, context: RequestContext | None = None) -> Any:
        """GET a JSON document (the model list). Not limited: it is cheap and used by probes."""
        try:
            response = await self.http.send(self._request("GET", path, None, context))
        except httpx.TimeoutException as error:
            raise LLMTimeout("upstream did not answer in time", code="timeout") from error
        except httpx.HTTPError as error:
            raise _connection_error(error) from error
        if response.status_code >= 400:
            raise self.redact(upstream_http_error(response.status_code, response.content), context)
        try:
            return response.json()
        except ValueError as error:
            raise LLMError("upstream sent malformed JSON", status=502) from error

    async def post_json(
        self, path: str, body: dict[str, Any], context: RequestContext
    ) -> tuple[Any, bytes]:
        """POST a body; return the parsed JSON answer and the bytes it was parsed from (with
        any key we sent scrubbed from them, as from the parsed answer)."""
        payload = prepare_body(body, self.kind)
        async with self._call(context) as call:
            response = await self._send(call, path, payload, context)
            try:
                content = self.scrub_bytes(await response.aread(), context)
            except httpx.HTTPError as error:
                raise translate_read_error(error) from error
            finally:
                await response.aclose()
            call.status = response.status_code
        try:
            return json.loads(content), content
        except ValueError as error:
            self.metrics.upstream_errors.labels(self.kind.name, "protocol").inc()
            raise LLMError("upstream sent malformed JSON", status=502) from error

    @asynccontextmanager
    async def stream(
        self, path: str, body: dict[str, Any], context: RequestContext
    ) -> AsyncIterator[httpx.Response]:
        """Open a streaming POST; yields the response once it answered 2xx.

        The response body is read by the caller (``aiter_raw`` / ``aiter_bytes``);
        it is closed when the ``async with`` ends. Errors before the body raise
        :class:`LLMError`; read errors while iterating are translated by
        :func:`translate_read_error`.
        """
        payload = prepare_body(body, self.kind)
        async with self._call(context) as call:
            response = await self._send(call, path, payload, context)
            call.status = response.status_code
            try:
                yield response
            finally:
                await response.aclose()

    # -- internals ------------------------------------------------------------------
    def _url(self, path: str) -> httpx.URL:
        """The URL of ``path``, parsed once."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(f"{self.base_url}/{path.lstrip('/')}")
        return url

    def _key(self, context: RequestContext | None) -> str | None:
        """The key to send: the caller's own in forwarding mode, else the configured one."""
        return (context.forwarded_key if context else None) or self._api_key

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        context: RequestContext | None,
    ) -> httpx.Request:
        """The request for ``path``: ``payload`` as a JSON body, the key that applies."""
        headers = {"accept": "application/json"}
        key = self._key(context)
        if key:
            headers["authorization"] = f"Bearer {key}"
        content = None
        if payload is not None:
            headers["content-type"] = "application/json"
            content = json.dumps(
                payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
        return self.http.build_request(method, self._url(path), content=content, headers=headers)

    def redact(self, error: LLMError, context: RequestContext | None) -> LLMError:
        """The error with any key we sent removed from its text (some upstreams echo it).

        Every :class:`LLMError` built from text the upstream sent passes through here.
        """
        scrubbed = self.scrub(error.message, context)
        if scrubbed != error.message:
            error.message = scrubbed
            error.args = (scrubbed,)
        return error

    def _secrets(self, context: RequestContext | None) -> tuple[str | None, ...]:
        return (self._api_key, context.forwarded_key if context else None)

    def scrub(self, text: str, context: RequestContext | None) -> str:
        """``text`` with any key we send upstream replaced by ``***``."""
        for secret in self._secrets(context):
            if secret and len(secret) >= 4 and secret in text:
                text = text.replace(secret, "***")
        return text

    def scrub_bytes(self, content: bytes, context: RequestContext | None) -> bytes:
        """:meth:`scrub` for a raw body (bytes that are not UTF-8 pass unchanged)."""
        for secret in self._secrets(context):
            if secret and len(secret) >= 4 and secret.encode() in content:
                content = content.replace(secret.encode(), b"***")
        return content

    def _call(self, context: RequestContext) -> _Call:
        """One limited, measured upstream call (``async with``)."""
        return _Call(self.limiter, self.metrics, self.kind.name, context)

    async def _send(
        self, call: _Call, path: str, payload: dict[str, Any], context: RequestContext
    ) -> httpx.Response:
        """Send with retries; return a 2xx response whose body is not read yet."""
        attempt = 0
        while True:
            attempt += 1
            request = self._request("POST", path, payload, context)
            retry_headers: Mapping[str, str] | None = None
            try:
                response = await self.http.send(request, stream=True)
            except httpx.TimeoutException as error:
                if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
                    failure: LLMError = _connection_error(error)
                else:
                    self.metrics.upstream_errors.labels(self.kind.name, "timeout").inc()
                    raise LLMTimeout(
                        "upstream sent nothing within the read timeout", code="timeout"
                    ) from error
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as error:
                failure = _connection_error(error)
            except httpx.HTTPError as error:
                self.metrics.upstream_errors.labels(self.kind.name, "protocol").inc()
                raise _connection_error(error) from error
            else:
                self.metrics.record_rate_limits(response.headers.raw)
                if response.status_code < 400:
                    return response
                try:
                    content = await response.aread()
                except httpx.HTTPError:
                    content = b""
                finally:
                    await response.aclose()
                status = response.status_code
                self.metrics.upstream_errors.labels(self.kind.name, str(status)).inc()
                failure = self.redact(upstream_http_error(status, content), context)
                if status not in RETRY_STATUSES:
                    call.status = status
                    raise failure
                retry_headers = response.headers
            if failure.status is None:
                self.metrics.upstream_errors.labels(self.kind.name, "connect").inc()
            if attempt > self.max_retries:
                raise failure
            delay = backoff_delay(attempt, retry_headers)
            left = context.seconds_left()
            if left is not None and delay >= left:
                raise failure
            self.metrics.record_retry(context.stats)
            logger.info(
                "retrying upstream call in %.2fs (attempt %d): %s", delay, attempt, failure.message
            )
            await asyncio.sleep(delay)


class _Call:
    """One upstream call: holds a limiter slot from ``async with`` to its end, and counts
    the call by outcome (status class, error, cancelled) with its duration."""

    __slots__ = ("_context", "_kind", "_limiter", "_metrics", "_started", "status")

    def __init__(
        self, limiter: FairLimiter, metrics: Metrics, kind: str, context: RequestContext
    ) -> None:
        self.status = 0
        self._context = context
        self._limiter = limiter
        self._metrics = metrics
        self._kind = kind
        self._started = 0.0

    async def __aenter__(self) -> _Call:
        await self._limiter.acquire(self._context.priority)
        self._metrics.record_call(self._context.stats)
        self._metrics.upstream_in_flight.labels(self._kind).inc()
        self._started = time.monotonic()
        return self

    async def __aexit__(self, kind: object, error: BaseException | None, _: object) -> None:
        metrics = self._metrics
        try:
            if error is None:
                metrics.upstream_calls.labels(self._kind, status_class(self.status)).inc()
            elif isinstance(error, asyncio.CancelledError):
                metrics.upstream_cancelled.labels(self._kind).inc()
            elif isinstance(error, LLMError):
                metrics.upstream_calls.labels(self._kind, _error_class(error)).inc()
            metrics.upstream_in_flight.labels(self._kind).dec()
            metrics.upstream_duration.labels(self._kind).observe(time.monotonic() - self._started)
        finally:
            self._limiter.release()


def _error_class(error: LLMError) -> str:
    return status_class(error.status) if error.status else "error"


def _connection_error(error: Exception) -> LLMError:
    return LLMError(
        f"could not reach the upstream ({type(error).__name__})",
        status=None,
        error_type="upstream_error",
        code="upstream_unreachable",
    )


async def drain(chunks: AsyncIterator[Any], seconds: float = DRAIN_SECONDS) -> None:
    """Read and drop the rest of a response whose stream already ended (``[DONE]`` seen).

    The end of the HTTP body usually arrives just after ``[DONE]``; a response closed
    before it is read cannot return to the pool, so the next call would open (and for
    HTTPS, handshake) a new connection. Bounded by ``seconds``; errors are ignored, the
    answer being complete already. ``chunks`` is the iterator the caller was reading.
    """
    with contextlib.suppress(TimeoutError, httpx.HTTPError, LLMError):
        async with asyncio.timeout(seconds):
            async for _ in chunks:
                pass


def translate_read_error(error: httpx.HTTPError) -> LLMError:
    """The :class:`LLMError` for a failure while reading a response body."""
    if isinstance(error, httpx.TimeoutException):
        return LLMTimeout("upstream stalled: no data within the read timeout", code="timeout")
    return LLMError(
        f"upstream connection broke mid-response ({type(error).__name__})",
        status=None,
        code="upstream_disconnected",
    )
