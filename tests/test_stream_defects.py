"""The three serving defects of issue 16, each through the real proxy on loopback.

1. A streamed pass-through with ``n`` above the upstream's concurrency limit must not wait
   for its own limiter slots (the split streams of one request each hold a slot).
2. Deadline errors are built fresh: no exception kept alive by the process accumulates the
   tracebacks (and so the frames) of the requests that hit the deadline.
3. A single upstream stream is relayed event block by event block: multi-line ``data``,
   ``event`` and ``id`` reach the client as the upstream wrote them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from server.errors import ProxyError
from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream
from tests.openai_wire import sse_events
from tests.servers import serve_in_thread

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("n", [2, 3])
def test_split_stream_with_n_above_the_limit_completes(make_proxy: ProxyFactory, n: int) -> None:
    with FakeUpstream(personality="llamacpp", models=["m"]) as fake:
        fake.responder = lambda body: "one two"
        base = make_proxy(fake, upstream_max_concurrency=1, request_timeout=20.0)
        started = time.monotonic()
        with httpx.Client(timeout=10) as http:
            response = http.post(
                f"{base}/v1/chat/completions", json={**CHAT, "n": n, "stream": True}
            )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    events = sse_events(response.content)
    assert events[-1].data == "[DONE]"
    chunks = [event.json() for event in events[:-1]]
    assert not [c for c in chunks if "error" in c]
    finished = {c["choices"][0]["index"] for c in chunks if c["choices"][0].get("finish_reason")}
    assert finished == set(range(n))
    assert elapsed < 5.0  # the deadline is 20 s: nothing waited for it
    assert fake.max_open_calls == 1


def _live_deadline_errors() -> list[ProxyError]:
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, ProxyError) and obj.status == 504 and obj.__traceback__ is not None
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_deadline_errors_do_not_stay_alive(make_proxy: ProxyFactory, stream: bool) -> None:
    with FakeUpstream(models=["m"]) as fake:
        fake.latency = 2.0
        base = make_proxy(fake, request_timeout=0.05)
        with httpx.Client(timeout=10) as http:
            for _ in range(5):
                response = http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": stream})
                assert response.status_code == 504
                assert response.json()["error"]["code"] == "timeout"
        assert _live_deadline_errors() == []


_UPSTREAM_EVENTS = (
    b": a comment the upstream sent\n\n"
    b"event: message\n"
    b"id: 7\n"
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",\n'
    b'data: "choices":[{"index":0,"delta":{"role":"assistant","content":"a"}}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"b"}}]}\r\n\r\n'
    b"event: progress\n"
    b"id: 8\n"
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",\n'
    b'data: "choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


async def _raw_sse_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that writes :data:`_UPSTREAM_EVENTS` verbatim, in uneven pieces."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    for start in range(0, len(_UPSTREAM_EVENTS), 37):
        piece = _UPSTREAM_EVENTS[start : start + 37]
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def raw_upstream() -> Iterator[str]:
    with serve_in_thread(_raw_sse_upstream) as base:
        yield f"{base}/v1"


def test_relay_keeps_multi_line_data_event_and_id(
    make_proxy: ProxyFactory, raw_upstream: str
) -> None:
    base = make_proxy(upstream_base_url=raw_upstream, upstream_kind="openai")
    with httpx.Client(timeout=10) as http:
        response = http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    relayed = sse_events(response.content)
    assert relayed == sse_events(_UPSTREAM_EVENTS)
    # Event blocks go out as the upstream wrote them.
    assert b'"model":"m",\ndata: "choices"' in response.content
    assert b"event: progress\nid: 8\n" in response.content


def test_merged_streams_keep_event_and_id(make_proxy: ProxyFactory, raw_upstream: str) -> None:
    base = make_proxy(upstream_base_url=raw_upstream, upstream_kind="llamacpp")
    with httpx.Client(timeout=10) as http:
        response = http.post(f"{base}/v1/chat/completions", json={**CHAT, "n": 2, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.content)
    assert events[-1].data == "[DONE]"
    relayed = events[:-1]
    # Each upstream event once per split call, its choices re-indexed to the call.
    upstream = [e for e in sse_events(_UPSTREAM_EVENTS) if e.data != "[DONE]"]
    assert len(relayed) == 2 * len(upstream)
    for index in (0, 1):
        mine = [e for e in relayed if e.json()["choices"][0]["index"] == index]
        assert [(e.event, e.id) for e in mine] == [(e.event, e.id) for e in upstream]
        contents = [e.json()["choices"][0]["delta"].get("content") for e in mine]
        assert contents == ["a", "b", None]
