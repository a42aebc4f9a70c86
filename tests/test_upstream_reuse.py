"""Upstream costs the benchmark (issue 7) found: connections not reused after streamed
calls, the model list asked on every CePO run.

A stream closed right after ``[DONE]``, before the end of its HTTP body was read, could not
go back to httpx's pool: every streamed pass-through and every streamed CePO step opened a
new connection (a TLS handshake each against a real upstream). The fake is wrapped so the
client port of each request shows which connection carried it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream
from tests.servers import serve_in_thread

USER = [{"role": "user", "content": "what is six times seven"}]


class _ConnectionCounter:
    """ASGI wrapper recording the client port of every chat request."""

    def __init__(self, app: FakeUpstream) -> None:
        self.app = app
        self.ports: list[int] = []
        self.model_lists = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            self.ports.append(scope["client"][1])
        if scope["type"] == "http" and scope["path"].endswith("/models"):
            self.model_lists += 1
        await self.app(scope, receive, send)


@pytest.fixture
def counted() -> Iterator[tuple[_ConnectionCounter, str]]:
    counter = _ConnectionCounter(FakeUpstream(models=["m"], default_tokens=12))
    with serve_in_thread(counter) as url:
        yield counter, f"{url}/v1"


def _stream(client: httpx.Client, url: str, model: str) -> str:
    body = {"model": model, "messages": USER, "stream": True}
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        return "".join(response.iter_text())


def test_streamed_passthrough_reuses_one_upstream_connection(
    make_proxy: ProxyFactory, counted: tuple[_ConnectionCounter, str]
) -> None:
    counter, upstream_url = counted
    proxy = make_proxy(upstream_base_url=upstream_url, upstream_kind="openai")
    with httpx.Client(timeout=10.0) as client:
        for _ in range(4):
            assert _stream(client, proxy, "m").rstrip().endswith("data: [DONE]")
    assert len(counter.ports) == 4
    assert len(set(counter.ports)) == 1


def test_streamed_cepo_answer_steps_reuse_connections(
    make_proxy: ProxyFactory, counted: tuple[_ConnectionCounter, str]
) -> None:
    counter, upstream_url = counted
    proxy = make_proxy(upstream_base_url=upstream_url, upstream_kind="openai")
    with httpx.Client(timeout=20.0) as client:
        for _ in range(3):
            # reasoning_effort low: one candidate, its answer streamed live from the upstream.
            body = {"model": "cepo-m", "messages": USER, "reasoning_effort": "low"}
            response = client.post(f"{proxy}/v1/chat/completions", json=body)
            assert response.status_code == 200
    calls_per_run = len(counter.ports) // 3
    # The runs are sequential: later runs find the earlier runs' connections idle.
    assert len(set(counter.ports)) <= calls_per_run


def test_model_list_without_a_context_length_is_not_asked_every_run(
    make_proxy: ProxyFactory, counted: tuple[_ConnectionCounter, str]
) -> None:
    counter, upstream_url = counted  # OpenAI personality: no context length in /v1/models
    proxy = make_proxy(upstream_base_url=upstream_url, upstream_kind="openai")
    with httpx.Client(timeout=20.0) as client:
        for _ in range(3):
            body = {"model": "cepo-m", "messages": USER, "reasoning_effort": "low"}
            assert client.post(f"{proxy}/v1/chat/completions", json=body).status_code == 200
    assert counter.model_lists == 1
