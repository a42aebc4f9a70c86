"""Fixtures of the reliability suite: one scripted upstream and one in-thread proxy per module.

Sharing them keeps the suite fast; every test starts from a reset upstream (knobs restored)
and ends by checking that nothing is left open: no upstream call, no asyncio task above the
baseline taken once the proxy had served its first requests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fake_upstream import FakeUpstream
from tests.proxies import InThreadProxy, proxy_in_thread

#: Settings of the proxy under test (stated here, so every figure can be traced to them).
RELIABILITY_SETTINGS: dict[str, Any] = {
    "upstream_kind": "openai",
    "upstream_read_timeout": 0.3,
    "upstream_connect_timeout": 2.0,
    "upstream_max_retries": 1,
    "upstream_max_concurrency": 16,
    "request_timeout": 10.0,
    "shutdown_grace_seconds": 1.0,
}


QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["fake-model"]) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def proxy_settings() -> dict[str, Any]:
    """The proxy's settings for this module (a module may override this fixture)."""
    return RELIABILITY_SETTINGS


@pytest.fixture(scope="module")
def proxy(fake: FakeUpstream, proxy_settings: dict[str, Any]) -> Iterator[InThreadProxy]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CEPO_"):
                patch.delenv(name)
        with proxy_in_thread(upstream_base_url=fake.base_url, **proxy_settings) as running:
            # Warm up: a JSON answer and a stream (the first SSE response starts
            # sse-starlette's one shutdown watcher per loop, which belongs to the baseline).
            for stream in (False, True):
                body = {"model": "fake-model", "messages": QUESTION, "stream": stream}
                reply = httpx.post(f"{running.v1}/chat/completions", json=body, timeout=10)
                reply.raise_for_status()
            yield running


@pytest.fixture(scope="module")
def baseline(proxy: InThreadProxy) -> int:
    """The proxy loop's task count when idle (after a first request warmed it up)."""
    return proxy.probe.settle(0, timeout=0.5)


@pytest.fixture
def clean(fake: FakeUpstream, proxy: InThreadProxy, baseline: int) -> Iterator[FakeUpstream]:
    """A reset upstream; afterwards assert no call is open and no task was left behind."""
    fake.reset(knobs=True)
    yield fake
    assert fake.wait_until_idle(3.0), f"{fake.open_calls} upstream calls still open"
    left = proxy.probe.settle(baseline)
    assert left <= baseline, (
        f"{left - baseline} asyncio task(s) left on the proxy's loop: "
        + "; ".join(proxy.probe.describe_tasks())
    )
