"""SIGTERM to ``python -m server serve`` while streams are in flight.

Stated limits: ``CEPO_SHUTDOWN_GRACE_SECONDS=2``. A stream that can finish within the grace
period finishes normally; one that cannot ends with one error chunk (``server_shutdown``)
and ``[DONE]``; new connections are refused; every upstream call ends; exit code 0.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.perf.procs import Service, start_proxy
from tests.fake_upstream import FakeUpstream, Reply, filler_text
from tests.openai_wire import iter_sse_data
from tests.reliability.harness import read_stream

GRACE = 2.0
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
SHORT_TOKENS = 16  # at 20 tokens/s: 0.8 s, well inside the grace period
LONG_TOKENS = 400  # at 20 tokens/s: 20 s, far beyond it


class Reader(threading.Thread):
    """Reads one streamed response to its end in a thread, keeping every data line."""

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.lines: list[str] = []
        self.status: int | None = None
        self.failure: BaseException | None = None
        self.first_data = threading.Event()

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=30, trust_env=False) as client,
                client.stream("POST", f"{self.url}/v1/chat/completions", json=self.body) as reply,
            ):
                self.status = reply.status_code
                for data in iter_sse_data(reply):
                    self.lines.append(data)
                    self.first_data.set()
        except BaseException as failure:  # reported by the test
            self.failure = failure
        finally:
            self.first_data.set()


def respond(body: dict[str, Any]) -> Reply:
    """Long answers for the pass-through "long" stream, short ones otherwise."""
    words = LONG_TOKENS if body.get("user") == "long" else SHORT_TOKENS
    return Reply(filler_text(words))


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["fake-model"], responder=respond, tokens_per_second=20.0) as up:
        yield up


@pytest.fixture
def proxy(fake: FakeUpstream, tmp_path: Path) -> Iterator[Service]:
    settings = {
        "CEPO_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        "CEPO_UPSTREAM_READ_TIMEOUT": "30",
        "CEPO_LOG_LEVEL": "info",
    }
    with start_proxy("proxy", tmp_path, upstream_base_url=fake.base_url, settings=settings) as s:
        yield s


def test_sigterm_with_streams_in_flight(fake: FakeUpstream, proxy: Service) -> None:
    streams = {
        "short": {"model": "fake-model", "messages": QUESTION, "stream": True},
        "long": {"model": "fake-model", "messages": QUESTION, "stream": True, "user": "long"},
        "cepo": {
            "model": "cepo-fake-model",
            "messages": QUESTION,
            "stream": True,
            "reasoning_effort": "low",
            # plan, execution, refine and final one after another, 0.8 s each: beyond the grace
            "cepo": {"plan_step": True, "planning_n": 1, "planning_m": 1},
        },
    }
    readers = {name: Reader(proxy.url, body) for name, body in streams.items()}
    for reader in readers.values():
        reader.start()
    for name, reader in readers.items():
        assert reader.first_data.wait(10), f"{name} never started"
    assert fake.open_calls >= 2

    proxy.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{proxy.url}/v1/chat/completions", json=streams["short"], timeout=5)

    exit_code = proxy.process.wait(GRACE + 10)
    took = time.monotonic() - signalled
    for reader in readers.values():
        reader.join(10)
        assert not reader.is_alive()
    assert exit_code == 0, proxy.log_path.read_text()[-2000:]
    assert took < GRACE + 4, f"shutdown took {took:.1f}s"
    assert fake.wait_until_idle(1.0), f"{fake.open_calls} upstream calls left open"

    short = read_stream(readers["short"].lines)
    assert short.error is None and short.finish_reasons == ["stop"] and "42" in short.content
    for name in ("long", "cepo"):
        reader = readers[name]
        assert reader.failure is None, f"{name}: {reader.failure!r}"
        outcome = read_stream(reader.lines)  # ends with exactly one [DONE]
        assert outcome.error is not None, f"{name} was not cut short"
        assert outcome.error["code"] == "server_shutdown", outcome.error
    log = proxy.log_path.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-2000:]
    json.dumps(log[-1:])  # the log is text
