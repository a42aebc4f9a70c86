"""Hostile event streams: the SSE decoder's limits, and an upstream that streams arbitrary
bytes through the proxy (pass-through relay and the live CePO answer).

Adds to ``tests/test_sse_decoder.py`` (which proves split-invariance): with a small event
size limit, any bytes either decode into events within the limit or raise
``SSEDecodeError``, never anything else, the same way whole or split; and a proxy stream
over any upstream bytes ends with exactly one ``[DONE]``, never a 500, nothing left open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from server.sse_decoder import SSEDecodeError, SSEDecoder
from tests.openai_wire import is_envelope, sse_data
from tests.proxies import InThreadProxy, proxy_in_thread
from tests.reliability.harness import read_stream
from tests.servers import serve_in_thread

LIMIT = 64
#: Hypothesis examples (the figures in bench/RESULTS.md quote these).
DECODER_EXAMPLES = 300
PROXY_EXAMPLES = 60
PIECES = [b"data:", b"data: ", b" ", b"x", b"\r", b"\n", b"\r\n", b":", b"\xe4\xb8\x96", b"\xff"]
PIECES += [b"[DONE]", b'{"choices":[{"delta":{"content":"a"}}]}', b'{"choices":[]}', b"event:e"]
hostile_streams = st.binary(max_size=300) | st.lists(st.sampled_from(PIECES), max_size=80).map(
    b"".join
)


def _decode(chunks: list[bytes]) -> list[str] | str:
    decoder = SSEDecoder(max_event_size=LIMIT)
    data: list[str] = []
    try:
        for chunk in chunks:
            data += [event.data for event in decoder.feed(chunk)]
        data += [event.data for event in decoder.flush()]
    except SSEDecodeError:
        return "too large"
    return data


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(stream=hostile_streams, data=st.data())
def test_decoder_limit_holds_for_any_bytes_split_anywhere(stream: bytes, data: Any) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole, split = _decode([stream]), _decode(pieces)
    assert whole == split
    if isinstance(whole, list):
        assert all(len(item) <= LIMIT for item in whole)


# -- through the proxy ------------------------------------------------------------------------


class HostileUpstream:
    """Answers streamed chat calls with ``payload`` as the whole body (200, SSE), and
    non-streamed ones with a normal JSON answer; ``/v1/models`` lists one model."""

    def __init__(self) -> None:
        self.payload = b""
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                message = await receive()
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                assert message["type"] == "lifespan.shutdown"
                await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.open += 1
        try:
            await self._answer(scope["path"], raw, send)
        finally:
            self.open -= 1

    async def _answer(self, path: str, raw: bytes, send: Send) -> None:
        if path.endswith("/models"):
            body = json.dumps({"object": "list", "data": [{"id": "m"}]}).encode()
            await _send(send, "application/json", body)
            return
        request = json.loads(raw)
        if request.get("stream"):
            await _send(send, "text/event-stream", self.payload)
            return
        answer = {
            "id": "x",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok 42"},
                    "finish_reason": "stop",
                }
            ],
        }
        await _send(send, "application/json", json.dumps(answer).encode())


async def _send(send: Send, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[HostileUpstream, InThreadProxy]]:
    upstream = HostileUpstream()
    with (
        serve_in_thread(upstream) as url,
        proxy_in_thread(
            upstream_base_url=f"{url}/v1",
            upstream_kind="openai",
            upstream_read_timeout=2.0,
            upstream_max_retries=0,
        ) as proxy,
    ):
        yield upstream, proxy


@settings(
    max_examples=PROXY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=hostile_streams, model=st.sampled_from(["m", "cepo-m"]))
def test_any_upstream_stream_ends_cleanly(
    hostile: tuple[HostileUpstream, InThreadProxy], payload: bytes, model: str
) -> None:
    upstream, proxy = hostile
    upstream.payload = payload
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "q"}],
        "stream": True,
        "reasoning_effort": "low",
        "cepo": {"planning_n": 1, "planning_m": 1},
    }
    response = httpx.post(f"{proxy.v1}/chat/completions", json=body, timeout=30)
    assert response.status_code != 500
    if response.status_code != 200:
        assert is_envelope(response.json())
        return
    outcome = read_stream(sse_data(response.text))
    if outcome.error is not None:
        assert outcome.error["type"] in ("upstream_error", "server_error", "timeout")
    deadline = time.monotonic() + 1.0
    while upstream.open and time.monotonic() < deadline:
        time.sleep(0.005)
    assert upstream.open == 0
