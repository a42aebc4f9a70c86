"""Clients that leave: before the headers, during the reasoning, during the answer, and at
random points; streaming and not; verbose and quiet.

For each: every upstream call of the request ends within 1 s of the client leaving (the
scripted upstream sees its client, the proxy, go away: ``disconnected_calls``), no new call
starts afterwards, the proxy's loop is back to its baseline task count, and nothing is
logged at ERROR level (a client leaving is not an error).

Stated pacing: upstream latency 0.3 s before each answer's headers; 50 tokens/s where an
answer is being streamed. A CePO run then takes well over a second, so every leaving
point below falls while upstream calls are open.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fake_upstream import FakeUpstream
from tests.proxies import InThreadProxy
from tests.reliability.conftest import RELIABILITY_SETTINGS
from tests.reliability.harness import RawRequest

CANCEL_WITHIN = 1.0
#: How long the upstream must then stay quiet (no call opened).
QUIET_AFTER = 0.25
LATENCY = 0.3
TOKENS_PER_SECOND = 50.0
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
SMALL_CEPO = {"bestofn_n": 2, "planning_n": 1, "planning_m": 2}
PATH = "/v1/chat/completions"


class ErrorLogs(logging.Handler):
    """Collects records at ERROR or above from the root and uvicorn's own loggers (which
    do not propagate to the root)."""

    LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.asgi")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> ErrorLogs:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


@pytest.fixture(scope="module")
def proxy_settings() -> dict[str, Any]:
    """Read timeout well above the pacing: every call here would succeed if left alone."""
    return {**RELIABILITY_SETTINGS, "upstream_read_timeout": 5.0}


@pytest.fixture
def errors() -> Iterator[ErrorLogs]:
    with ErrorLogs() as logs:
        yield logs
    messages = [f"{r.name}: {r.getMessage()}" for r in logs.records]
    assert not messages, f"logged as errors: {messages}"


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def leave_and_check(request: RawRequest, fake: FakeUpstream, *, expect_open: bool) -> None:
    """Close the client's socket; every upstream call of the request, open then or started
    in the moment before the proxy noticed, must end within ``CANCEL_WITHIN``."""
    seen = fake.calls
    disconnected_before = fake.disconnected_calls
    open_before = fake.open_calls
    if expect_open:
        assert open_before > 0, "the test meant to leave while upstream calls were open"
    request.close()
    left_at = time.monotonic()
    assert wait_for(lambda: fake.open_calls == 0, CANCEL_WITHIN), (
        f"{fake.open_calls} upstream calls still open {CANCEL_WITHIN}s after the client left"
    )
    # Calls may start "in the moment before the proxy noticed" (a client that leaves with
    # its request may be seen gone only after the first calls went out): count from the
    # moment the proxy finished with the request.
    probe = request.probe
    if probe is not None:
        finished = wait_for(lambda: probe.completed > request.completed_before, CANCEL_WITHIN)
        assert finished, f"the proxy still handles the request {CANCEL_WITHIN}s after it left"
        assert wait_for(lambda: fake.open_calls == 0, CANCEL_WITHIN)
    calls = fake.calls
    time.sleep(QUIET_AFTER)
    assert fake.open_calls == 0, "an upstream call was opened after the client left"
    assert fake.calls == calls, "an upstream call started well after the client left"
    late = [r for r in fake.chat_requests if r.ended is None or r.ended > left_at + CANCEL_WITHIN]
    assert not late, f"{len(late)} upstream calls outlived the client by more than 1 s"
    if open_before:
        assert fake.disconnected_calls > disconnected_before, "no call was cut short"
    assert calls >= seen


Start = Callable[..., RawRequest]


@pytest.fixture
def start(proxy: InThreadProxy) -> Iterator[Start]:
    """``start(body, mode="verbose")``: send a request over a raw socket (closed at the end)."""
    opened: list[RawRequest] = []

    def send(body: dict[str, Any], mode: str = "verbose") -> RawRequest:
        request = RawRequest(proxy.url, probe=proxy.probe)
        opened.append(request)
        request.post_json(PATH, body, {"X-Reasoning-Mode": mode})
        return request

    yield send
    for request in opened:
        request.close()


@pytest.fixture
def paced(clean: FakeUpstream) -> FakeUpstream:
    """0.3 s to the headers of each answer, then 50 tokens/s."""
    clean.latency = LATENCY
    clean.tokens_per_second = TOKENS_PER_SECOND
    return clean


# -- before the headers -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_passthrough_leaves_before_headers(
    start: Start, paced: FakeUpstream, errors: ErrorLogs, stream: bool
) -> None:
    paced.latency = 2.0
    request = start({"model": "fake-model", "messages": QUESTION, "stream": stream})
    assert wait_for(lambda: paced.open_calls == 1, 2.0)
    assert request.received == b""
    leave_and_check(request, paced, expect_open=True)


@pytest.mark.parametrize("mode", ["verbose", "quiet"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_cepo_leaves_at_once(
    start: Start, paced: FakeUpstream, errors: ErrorLogs, stream: bool, mode: str
) -> None:
    """Gone right after sending: nothing may be left running, whether work began or not."""
    body = {"model": "cepo-fake-model", "messages": QUESTION, "stream": stream, "cepo": SMALL_CEPO}
    request = start(body, mode)
    leave_and_check(request, paced, expect_open=False)


@pytest.mark.parametrize("mode", ["verbose", "quiet"])
def test_cepo_json_leaves_before_the_answer(
    start: Start, paced: FakeUpstream, errors: ErrorLogs, mode: str
) -> None:
    body = {"model": "cepo-fake-model", "messages": QUESTION, "cepo": SMALL_CEPO}
    request = start(body, mode)
    assert wait_for(lambda: paced.calls >= 3 and paced.open_calls > 0, 5.0)
    assert request.received == b""
    leave_and_check(request, paced, expect_open=True)


# -- during the reasoning and during the answer ---------------------------------------------------


@pytest.mark.parametrize("mode", ["verbose", "quiet"])
def test_cepo_stream_leaves_during_reasoning(
    start: Start, paced: FakeUpstream, errors: ErrorLogs, mode: str
) -> None:
    body = {"model": "cepo-fake-model", "messages": QUESTION, "stream": True, "cepo": SMALL_CEPO}
    request = start(body, mode)
    assert request.read_until(b'"reasoning_content"', 5.0)
    assert wait_for(lambda: paced.open_calls > 0, 2.0)
    assert b'"delta":{"content":"Let' not in request.received
    leave_and_check(request, paced, expect_open=True)


@pytest.mark.parametrize("mode", ["verbose", "quiet"])
def test_cepo_stream_leaves_during_the_live_answer(
    start: Start, paced: FakeUpstream, errors: ErrorLogs, mode: str
) -> None:
    """One candidate: the answer is relayed live from an upstream stream (16 tokens at
    50 tokens/s), and the client leaves after its first word."""
    body = {
        "model": "cepo-fake-model",
        "messages": QUESTION,
        "stream": True,
        "reasoning_effort": "low",
        "cepo": {"planning_n": 1, "planning_m": 2},
    }
    request = start(body, mode)
    assert request.read_until(b'"delta":{"content":"Let', 10.0)
    leave_and_check(request, paced, expect_open=True)


def test_passthrough_stream_leaves_during_the_answer(
    start: Start, paced: FakeUpstream, errors: ErrorLogs
) -> None:
    body = {"model": "fake-model", "messages": QUESTION, "stream": True}
    request = start(body)
    assert request.read_until(b"Let", 5.0)
    leave_and_check(request, paced, expect_open=True)


# -- random points --------------------------------------------------------------------------------

_rng = random.Random(9)
RANDOM_POINTS = [
    (model, stream, mode, round(_rng.uniform(0.05, 1.0), 3))
    for model in ("cepo-fake-model", "fake-model")
    for stream in (False, True)
    for mode in ("verbose", "quiet")
]


@pytest.mark.parametrize(("model", "stream", "mode", "after"), RANDOM_POINTS)
def test_leaves_at_a_random_point(
    start: Start,
    paced: FakeUpstream,
    errors: ErrorLogs,
    model: str,
    stream: bool,
    mode: str,
    after: float,
) -> None:
    """Leaves ``after`` seconds in (seeded), wherever the request then is."""
    body = {"model": model, "messages": QUESTION, "stream": stream, "cepo": SMALL_CEPO}
    if model == "fake-model":
        body.pop("cepo")
    request = start(body, mode)
    time.sleep(after)
    leave_and_check(request, paced, expect_open=False)
