"""Shared fixtures: the scripted upstream and the proxy, both under real uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.proxies import proxy_in_thread


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["fake-model"]) as fake:
        yield fake


ProxyFactory = Callable[..., str]


@pytest.fixture
def make_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyFactory]:
    """``make_proxy(upstream, **settings) -> "http://127.0.0.1:PORT"`` (no ``/v1``), started
    by :func:`tests.proxies.proxy_in_thread`."""
    for name in list(__import__("os").environ):
        if name.startswith("CEPO_"):
            monkeypatch.delenv(name)
    with ExitStack() as stack:

        def make(fake: FakeUpstream | None = None, **overrides: Any) -> str:
            values: dict[str, Any] = {"upstream_max_retries": 2, "request_timeout": 30.0}
            if fake is not None:
                values["upstream_base_url"] = fake.base_url
                values["upstream_kind"] = (
                    fake.personality if fake.personality != "llamacpp" else "llamacpp"
                )
            values.update(overrides)
            return stack.enter_context(proxy_in_thread(**values)).url

        yield make


@pytest.fixture
def proxy(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream)


_SDK_CLIENTS: list[openai.OpenAI] = []


def closed_after_test(client: openai.OpenAI) -> openai.OpenAI:
    """``client``, closed when the test ends: an SDK client left open keeps its pooled
    sockets until garbage collection, whose ``ResourceWarning`` (an error here) would
    then fail whichever later test happens to be running."""
    _SDK_CLIENTS.append(client)
    return client


def sdk(base: str) -> openai.OpenAI:
    """An OpenAI SDK client for the proxy at ``base`` (no ``/v1``), closed after the test."""
    return closed_after_test(
        openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=30)
    )


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _SDK_CLIENTS:
        _SDK_CLIENTS.pop().close()
