"""Limits that protect the service (admission, deadline) and the one access-log line."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from server.logs import JSONFormatter, TextFormatter
from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream, Fault
from tests.openai_wire import sse_data

CHAT = "/v1/chat/completions"
QUESTION_TEXT = "What is 6 times 7?"
QUESTION = [{"role": "user", "content": QUESTION_TEXT}]
RATING_HEADING = "# Step: verify an answer"


def cepo_body(**extra: Any) -> dict[str, Any]:
    return {"model": "cepo-m", "messages": QUESTION, **extra}


def data_lines(response: httpx.Response) -> list[str]:
    return sse_data(response.text)


# -- admission: 429 past CEPO_MAX_CONCURRENT_REASONING -----------------------------------------
def test_saturated_reasoning_is_a_429_with_retry_after(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(models=["m"], latency=0.4) as slow:
        base = make_proxy(slow, max_concurrent_reasoning=1, reasoning_queue_timeout=0.1)
        with (
            httpx.Client(timeout=10) as http,
            http.stream(
                "POST", f"{base}{CHAT}", json=cepo_body(stream=True, reasoning_effort="low")
            ) as first,
        ):
            lines = first.iter_lines()  # kept referenced: dropping it disconnects
            assert next(line for line in lines if line.startswith("data:"))
            started = time.monotonic()
            refused = http.post(f"{base}{CHAT}", json=cepo_body(reasoning_effort="low"))
            waited = time.monotonic() - started
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == "1"
            error = refused.json()["error"]
            assert error["type"] == "rate_limit_error"
            assert error["code"] == "too_many_reasoning_requests"
            assert 0.1 <= waited < 0.4  # a short bounded wait, not a queue
            # Pass-through requests are not limited by it.
            passthrough = http.post(f"{base}{CHAT}", json={"model": "m", "messages": QUESTION})
            assert passthrough.status_code == 200
            rest = list(lines)
            assert rest[-1] == "data: [DONE]" or rest[-2:] == ["data: [DONE]", ""]
        # The place is free again once the first stream ended.
        again = httpx.post(f"{base}{CHAT}", json=cepo_body(reasoning_effort="low"), timeout=10)
        assert again.status_code == 200


def test_a_short_wait_admits_when_a_place_frees_in_time(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(models=["m"], latency=0.05) as upstream:
        base = make_proxy(upstream, max_concurrent_reasoning=1, reasoning_queue_timeout=5)
        statuses: list[int] = []

        def ask() -> None:
            response = httpx.post(
                f"{base}{CHAT}", json=cepo_body(reasoning_effort="low"), timeout=10
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        assert statuses == [200, 200]
        assert upstream.max_open_calls <= 4  # low effort: 4 samples at once, one request at a time


# -- the request deadline (CEPO_REQUEST_TIMEOUT) -----------------------------------------------
def stall_ratings(body: dict[str, Any]) -> Fault | None:
    return Fault.stall_before_headers(5) if RATING_HEADING in json.dumps(body) else None


def test_deadline_with_finished_candidates_answers_among_them(
    make_proxy: ProxyFactory, access_log: AccessLog
) -> None:
    with FakeUpstream(models=["m"], fault_for=stall_ratings) as upstream:
        base = make_proxy(upstream, request_timeout=1.0, default_preset="planned")
        started = time.monotonic()
        response = httpx.post(f"{base}{CHAT}", json=cepo_body(), timeout=10)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        reply = response.json()
        assert "42" in reply["choices"][0]["message"]["content"]
        meta = reply["cepo"]
        assert meta["deadline_hit"] is True
        assert meta["candidates_finished"] == 3
        assert "deadline" in meta["selection"]["rule"]
        assert "Deadline reached" in reply["choices"][0]["message"]["reasoning_content"]
        assert 1.0 <= elapsed < 2.5
        # The three stalled ratings were cancelled; nothing was called after the deadline.
        assert upstream.wait_until_idle(2.0)
        assert upstream.disconnected_calls == 3
        calls = upstream.calls
        time.sleep(0.2)
        assert upstream.calls == calls == 27
        (line,) = (as_json(r) for r in access_log(1))
        assert line["outcome"] == "deadline" and line["status"] == 200


def test_deadline_cuts_a_stream_with_finished_candidates(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(models=["m"], fault_for=stall_ratings) as upstream:
        base = make_proxy(upstream, request_timeout=1.0, default_preset="planned")
        response = httpx.post(f"{base}{CHAT}", json=cepo_body(stream=True), timeout=10)
        lines = data_lines(response)
        assert lines[-1] == "[DONE]"
        finish = json.loads(lines[-2])
        assert finish["choices"][0]["finish_reason"] == "stop"
        assert finish["cepo"]["deadline_hit"] is True


@pytest.fixture
def stalled() -> Any:
    with FakeUpstream(models=["m"], latency=3.0) as upstream:
        yield upstream


def test_deadline_with_nothing_finished_is_a_504(
    make_proxy: ProxyFactory, stalled: FakeUpstream, access_log: AccessLog
) -> None:
    base = make_proxy(stalled, request_timeout=0.5)
    started = time.monotonic()
    response = httpx.post(f"{base}{CHAT}", json=cepo_body(), timeout=10)
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "deadline_exceeded"
    assert time.monotonic() - started < 1.5
    assert stalled.wait_until_idle(2.0)
    assert stalled.disconnected_calls == stalled.calls > 0
    (line,) = (as_json(r) for r in access_log(1))
    assert line["outcome"] == "deadline" and line["status"] == 504


def test_deadline_in_a_stream_is_an_error_chunk_then_done(
    make_proxy: ProxyFactory, stalled: FakeUpstream
) -> None:
    base = make_proxy(stalled, request_timeout=0.5)
    response = httpx.post(f"{base}{CHAT}", json=cepo_body(stream=True), timeout=10)
    assert response.status_code == 200
    lines = data_lines(response)
    assert lines[-1] == "[DONE]"
    error = json.loads(lines[-2])["error"]
    assert error["type"] == "timeout" and error["code"] == "deadline_exceeded"
    assert stalled.wait_until_idle(2.0)


@pytest.mark.parametrize("stream", [False, True])
def test_deadline_of_a_passthrough_is_a_504(
    make_proxy: ProxyFactory, stalled: FakeUpstream, stream: bool
) -> None:
    base = make_proxy(stalled, request_timeout=0.5)
    body = {"model": "m", "messages": QUESTION, "stream": stream}
    response = httpx.post(f"{base}{CHAT}", json=body, timeout=10)
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "timeout"
    assert stalled.wait_until_idle(2.0)


def test_deadline_mid_passthrough_stream_is_an_error_chunk(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(models=["m"], faults=[Fault.stall_mid_stream(3.0, after_chunks=3)]) as up:
        base = make_proxy(up, request_timeout=0.5)
        body = {"model": "m", "messages": QUESTION, "stream": True}
        response = httpx.post(f"{base}{CHAT}", json=body, timeout=10)
        assert response.status_code == 200
        lines = data_lines(response)
        assert lines[-1] == "[DONE]"
        assert json.loads(lines[-2])["error"]["code"] == "timeout"
        assert json.loads(lines[1])["choices"][0]["delta"]["content"]  # it had begun
        assert up.wait_until_idle(2.0)


# -- the access log ------------------------------------------------------------------------
AccessLog = Callable[[int], list[logging.LogRecord]]


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> AccessLog:
    """``access_log(n)``: wait (bounded) for ``n`` access-log records and return them.

    The line is written after the last byte went out, so a client may see its answer a
    moment before the line exists.
    """
    caplog.set_level(logging.INFO, logger="cepo_proxy.access")

    def wait_for(count: int) -> list[logging.LogRecord]:
        until = time.monotonic() + 5
        while time.monotonic() < until:
            records = [r for r in caplog.records if r.name == "cepo_proxy.access"]
            if len(records) >= count:
                time.sleep(0.05)  # no extra line may follow
                return [r for r in caplog.records if r.name == "cepo_proxy.access"]
            time.sleep(0.01)
        raise AssertionError(f"fewer than {count} access-log lines")

    return wait_for


def as_json(record: logging.LogRecord) -> dict[str, Any]:
    line = JSONFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_one_json_line_per_request_with_costs_and_no_content(
    proxy: str, upstream: FakeUpstream, access_log: AccessLog
) -> None:
    headers = {"X-Request-Id": "req-cepo-1"}
    reply = httpx.post(
        f"{proxy}{CHAT}",
        json={"model": "cepo-fake-model", "messages": QUESTION},
        headers=headers,
        timeout=30,
    ).json()
    stream_body = {"model": "fake-model", "messages": QUESTION, "stream": True}
    httpx.post(f"{proxy}{CHAT}", json=stream_body, headers={"X-Request-Id": "req-pass-2"})
    httpx.get(f"{proxy}/health")  # probes are not logged
    httpx.get(f"{proxy}/metrics")
    records = access_log(2)
    assert len(records) == 2
    cepo, passthrough = (as_json(r) for r in records)

    assert cepo["request_id"] == "req-cepo-1"
    assert cepo["logger"] == "cepo_proxy.access" and cepo["level"] == "info"
    assert cepo["route"] == CHAT and cepo["method"] == "POST" and cepo["status"] == 200
    assert cepo["model"] == "cepo-fake-model" and cepo["mode"] == "verbose"
    assert cepo["outcome"] == "ok"
    assert cepo["upstream_calls"] == 27 == reply["cepo"]["upstream_calls"]
    assert cepo["prompt_tokens"] + cepo["completion_tokens"] == reply["usage"]["total_tokens"]
    assert cepo["duration_ms"] >= cepo["ttfb_ms"] > 0

    assert passthrough["request_id"] == "req-pass-2"
    assert passthrough["mode"] == "passthrough" and passthrough["outcome"] == "ok"
    assert passthrough["upstream_calls"] == 1 and passthrough["upstream_retries"] == 0
    assert passthrough["completion_tokens"] > 0  # estimated: the client asked for no usage

    for record in records:
        line = JSONFormatter().format(record) + TextFormatter().format(record)
        assert QUESTION_TEXT not in line
        assert "Answer: 42" not in line and "step by step" not in line
        assert "prompt" not in as_json(record) and "answer" not in as_json(record)


def test_log_content_adds_prompt_and_answer(
    make_proxy: ProxyFactory, upstream: FakeUpstream, access_log: AccessLog
) -> None:
    base = make_proxy(upstream, log_content=True)
    httpx.post(f"{base}{CHAT}", json={"model": "fake-model", "messages": QUESTION})
    stream_body = {"model": "fake-model", "messages": QUESTION, "stream": True}
    httpx.post(f"{base}{CHAT}", json=stream_body)
    cepo_body_ = {"model": "cepo-fake-model", "messages": QUESTION, "reasoning_effort": "low"}
    httpx.post(f"{base}{CHAT}", json=cepo_body_, timeout=30)
    lines = [as_json(r) for r in access_log(3)]
    assert len(lines) == 3
    for line in lines:
        assert line["prompt"] == QUESTION
        assert isinstance(line["answer"], str) and line["answer"].endswith("Answer: 42")


def test_outcomes_of_failures(
    make_proxy: ProxyFactory, upstream: FakeUpstream, access_log: AccessLog
) -> None:
    base = make_proxy(upstream, api_keys="k", upstream_max_retries=1)
    auth = {"Authorization": "Bearer k"}
    httpx.post(f"{base}{CHAT}", json={"model": "fake-model", "messages": QUESTION})
    upstream.fault_for = lambda body: Fault.status(503, retry_after=0)
    httpx.post(f"{base}{CHAT}", json={"model": "fake-model", "messages": QUESTION}, headers=auth)
    stream = {"model": "cepo-fake-model", "messages": QUESTION, "stream": True}
    httpx.post(f"{base}{CHAT}", json={**stream, "reasoning_effort": "low"}, headers=auth)
    lines = [as_json(r) for r in access_log(3)]
    rejected, failed, failed_stream = lines
    assert rejected["status"] == 401 and rejected["outcome"] == "rejected"
    assert rejected["upstream_calls"] == 0
    assert failed["status"] == 502 and failed["outcome"] == "failed"
    assert failed["upstream_calls"] == 1 and failed["upstream_retries"] == 1
    assert failed_stream["status"] == 200 and failed_stream["outcome"] == "failed"
    assert failed_stream["error_status"] == 502


def test_client_disconnect_is_logged_as_such(
    make_proxy: ProxyFactory, access_log: AccessLog
) -> None:
    with FakeUpstream(models=["m"], latency=3.0) as slow:
        base = make_proxy(slow)
        with (
            httpx.Client(timeout=5) as http,
            http.stream("POST", f"{base}{CHAT}", json=cepo_body(stream=True)) as response,
        ):
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
        (line,) = (as_json(r) for r in access_log(1))
        assert line["outcome"] == "client_disconnected"
        assert slow.wait_until_idle(2.0)


def test_log_lines_leave_out_uvicorns_colour_copy() -> None:
    import json as _json
    import logging

    from server.logs import JSONFormatter

    record = logging.makeLogRecord(
        {"msg": "Uvicorn running", "color_message": "\x1b[1mUvicorn\x1b[0m"}
    )
    line = JSONFormatter().format(record)
    assert "color_message" not in _json.loads(line)
    assert "\x1b" not in line
