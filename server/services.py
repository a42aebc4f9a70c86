"""The app's long-lived resources, built once in the lifespan and reached through deps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from config.settings import Settings
from server.admission import Admission
from server.metrics import Metrics
from server.upstream.client import UpstreamClient
from server.upstream.http_client import UpstreamHTTPClient, upstream_transport
from server.upstream.limiter import FairLimiter
from server.upstream.llm import UpstreamLLM

logger = logging.getLogger("cepo_proxy")


@dataclass
class Services:
    """Everything a route needs, built from the settings."""

    settings: Settings
    metrics: Metrics
    http: httpx.AsyncClient
    limiter: FairLimiter
    upstream: UpstreamClient
    llm: UpstreamLLM
    upstream_base_url: str
    admission: Admission


@asynccontextmanager
async def build_services(settings: Settings, metrics: Metrics) -> AsyncIterator[Services]:
    """Build the services; on exit close everything they opened (the local model too)."""
    async with AsyncExitStack() as stack:
        kind = settings.kind
        base_url = settings.upstream_base_url
        context_fallback = settings.upstream_context_length or kind.default_context_length
        if kind.name == "local":
            from server.local_model import ManagedLlamaServer

            local = await stack.enter_async_context(ManagedLlamaServer.from_settings(settings))
            base_url = local.base_url
            context_fallback = local.n_ctx
        if base_url is None:
            raise RuntimeError("CEPO_UPSTREAM_BASE_URL is not set")
        limit = settings.max_concurrency
        http = await stack.enter_async_context(
            UpstreamHTTPClient(
                timeout=httpx.Timeout(
                    connect=settings.upstream_connect_timeout,
                    read=settings.read_timeout,
                    write=settings.read_timeout,
                    pool=settings.upstream_connect_timeout,
                ),
                # Idle connections are dropped after 4 s: below uvicorn's (so vLLM's) 5 s
                # keep-alive, so a call does not go out on a connection being closed.
                transport=upstream_transport(
                    base_url, max_connections=limit + 8, keepalive_expiry=4.0
                ),
                follow_redirects=False,
            )
        )
        limiter = FairLimiter(limit)
        api_key = (
            settings.upstream_api_key.get_secret_value() if settings.upstream_api_key else None
        )
        upstream = UpstreamClient(
            http,
            base_url=base_url,
            api_key=api_key,
            kind=kind,
            limiter=limiter,
            max_retries=settings.upstream_max_retries,
            metrics=metrics,
        )
        llm = UpstreamLLM(upstream, metrics=metrics, fallback_context_length=context_fallback)
        logger.info(
            "upstream %s (kind %s, %d calls at once)", _safe_url(base_url), kind.name, limit
        )
        admission = Admission(settings.max_concurrent_reasoning, settings.reasoning_queue_timeout)
        yield Services(settings, metrics, http, limiter, upstream, llm, base_url, admission)


def _safe_url(url: str) -> str:
    """The URL without any credentials embedded in it."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url
