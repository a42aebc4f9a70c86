"""Issue 16's cases: event shapes relayed exactly, ``n`` above the upstream limit, and
thousands of deadline 504s with memory and live objects flat.

* Any sequence of events (multi-line ``data``, ``event``, ``id``, comments, any line ending),
  written by the upstream in any split, reaches the client as the same events.
* ``n`` split into more single calls than the upstream's concurrency limit completes, JSON
  and stream, alongside other requests, without exceeding the limit.
* Thousands of requests that hit their deadline leave nothing behind: no error object with
  a traceback stays alive, and the numbers of live objects and of allocated memory blocks
  stay flat.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from server.errors import ProxyError
from tests.fake_upstream import FakeUpstream
from tests.openai_wire import sse_events
from tests.proxies import InThreadProxy, proxy_in_thread
from tests.reliability.harness import read_stream
from tests.servers import serve_in_thread

RELAY_EXAMPLES = 60
DEADLINE_REQUESTS = 2000
QUESTION = [{"role": "user", "content": "q"}]


# -- event shapes ------------------------------------------------------------------------------
class ScriptedUpstream:
    """Streams ``payload`` verbatim in pieces of ``piece`` bytes."""

    def __init__(self) -> None:
        self.payload = b""
        self.piece = 7

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(self.payload), self.piece):
            chunk = self.payload[start : start + self.piece]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _chunk(text: str, finish: bool) -> str:
    choice: dict[str, Any] = {"index": 0, "delta": {"content": text}}
    if finish:
        choice["finish_reason"] = "stop"
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})


line_ends = st.sampled_from(["\n", "\r\n", "\r"])
names = st.text(alphabet="abcdefghij.-_", min_size=1, max_size=12)


@st.composite
def event_block(draw: Any, finish: bool) -> str:
    end = draw(line_ends)
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(": " + draw(names))
    if draw(st.booleans()):
        lines.append("event: " + draw(names))
    if draw(st.booleans()):
        lines.append("id: " + draw(names))
    data = _chunk(draw(st.text(alphabet="xyz \u00e9\u4e16", max_size=8)), finish)
    # Split the JSON over several data lines at arbitrary points (a decoder joins them
    # with "\n", which JSON reads as whitespace only between tokens: split after commas).
    parts = data.split(", ") if draw(st.booleans()) else [data]
    lines += [f"data: {part}" for part in parts]
    return end.join(lines) + end + end


@st.composite
def upstream_streams(draw: Any) -> bytes:
    count = draw(st.integers(0, 5))
    blocks = [draw(event_block(finish=False)) for _ in range(count)]
    blocks.append(draw(event_block(finish=True)))
    return ("".join(blocks) + "data: [DONE]\n\n").encode()


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[ScriptedUpstream, InThreadProxy]]:
    upstream = ScriptedUpstream()
    with (
        serve_in_thread(upstream) as url,
        proxy_in_thread(upstream_base_url=f"{url}/v1", upstream_kind="openai") as proxy,
    ):
        yield upstream, proxy


@settings(
    max_examples=RELAY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=upstream_streams(), piece=st.integers(1, 64))
def test_events_reach_the_client_as_the_upstream_wrote_them(
    scripted: tuple[ScriptedUpstream, InThreadProxy], payload: bytes, piece: int
) -> None:
    upstream, proxy = scripted
    upstream.payload, upstream.piece = payload, piece
    body = {"model": "m", "messages": QUESTION, "stream": True}
    response = httpx.post(f"{proxy.v1}/chat/completions", json=body, timeout=10)
    assert response.status_code == 200
    assert sse_events(response.content) == sse_events(payload)
    read_stream([event.data for event in sse_events(response.content)])


# -- n above the limit -------------------------------------------------------------------------
def test_n_above_the_limit_completes_alongside_other_requests() -> None:
    with (
        FakeUpstream(personality="llamacpp", models=["m"], latency=0.05) as fake,
        proxy_in_thread(
            upstream_base_url=fake.base_url,
            upstream_kind="llamacpp",
            upstream_max_concurrency=2,
            request_timeout=30.0,
        ) as proxy,
    ):
        bodies = [
            {"model": "m", "messages": QUESTION, "n": n, "stream": stream}
            for n in (5, 3, 1)
            for stream in (True, False)
        ] * 3

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=20) as http:
                url = f"{proxy.v1}/chat/completions"
                return await asyncio.gather(*(http.post(url, json=b) for b in bodies))

        responses = asyncio.run(run())
        assert fake.max_open_calls <= 2
    for body, response in zip(bodies, responses, strict=True):
        assert response.status_code == 200, response.text
        if body["stream"]:
            outcome = read_stream([event.data for event in sse_events(response.content)])
            assert outcome.error is None
            assert len(outcome.finish_reasons) == body["n"]
        else:
            assert len(response.json()["choices"]) == body["n"]


# -- deadlines ---------------------------------------------------------------------------------
def _live_errors_with_traceback() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, ProxyError) and obj.__traceback__)


def test_thousands_of_deadline_504s_leave_memory_and_live_objects_flat() -> None:
    with (
        FakeUpstream(models=["m"], latency=5.0, history_limit=50) as fake,
        proxy_in_thread(
            upstream_base_url=fake.base_url, upstream_kind="openai", request_timeout=0.02
        ) as proxy,
    ):

        async def burst(count: int) -> list[int]:
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(timeout=10, limits=limits) as http:
                url = f"{proxy.v1}/chat/completions"
                statuses: list[int] = []
                for start in range(0, count, 32):
                    batch = [
                        http.post(
                            url, json={"model": "m", "messages": QUESTION, "stream": i % 2 == 0}
                        )
                        for i in range(start, min(count, start + 32))
                    ]
                    statuses += [r.status_code for r in await asyncio.gather(*batch)]
                return statuses

        def settled() -> tuple[int, int]:
            assert fake.wait_until_idle(5.0)
            gc.collect()
            return len(gc.get_objects()), sys.getallocatedblocks()

        assert set(asyncio.run(burst(200))) == {504}  # warm-up
        growth: list[tuple[int, int]] = []
        objects_before, blocks_before = settled()
        for _ in range(2):
            assert set(asyncio.run(burst(DEADLINE_REQUESTS))) == {504}
            objects_after, blocks_after = settled()
            growth.append((objects_after - objects_before, blocks_after - blocks_before))
            objects_before, blocks_before = objects_after, blocks_after
        assert _live_errors_with_traceback() == 0
    # Flat: what is left does not grow with the number of requests (a leak of even one
    # small object per request would be thousands here, in each burst). Other threads of
    # the test process (earlier tests' leftovers, caches warming) can add a few hundred
    # objects within one burst, never in both: the smaller growth of two bursts is judged.
    assert min(objects for objects, _ in growth) < DEADLINE_REQUESTS // 4, growth
    assert min(blocks for _, blocks in growth) < DEADLINE_REQUESTS // 2, growth
