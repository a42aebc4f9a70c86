"""An ``UpstreamClient`` over ``httpx.MockTransport``, for the paths a scripted upstream
server cannot take (a key echoed in an answer, gzip bodies, the exact request sent)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from config.upstream_kinds import KINDS
from server.metrics import Metrics
from server.upstream.client import UpstreamClient
from server.upstream.http_client import UpstreamHTTPClient
from server.upstream.limiter import FairLimiter


def mock_upstream_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    api_key: str | None = None,
    timeout: httpx.Timeout | None = None,
    base_url: str = "http://127.0.0.1:9/v1",
) -> UpstreamClient:
    """An OpenAI-kind client answering through ``handler``, no retries; close ``.http``."""
    http = UpstreamHTTPClient(
        transport=httpx.MockTransport(handler), timeout=timeout or httpx.Timeout(5.0)
    )
    return UpstreamClient(
        http,
        base_url=base_url,
        api_key=api_key,
        kind=KINDS["openai"],
        limiter=FairLimiter(2),
        max_retries=0,
        metrics=Metrics("openai"),
    )
