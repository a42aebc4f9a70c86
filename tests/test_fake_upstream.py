"""The scripted upstream and the loopback harness, driven with httpx and the official openai SDK."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from server.sse_decoder import SSEDecoder
from tests.conftest import closed_after_test
from tests.fake_upstream import DEFAULT_ANSWER, FakeUpstream, Fault, Reply, filler_text
from tests.servers import serve_in_thread, unused_loopback_url

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = httpx.Timeout(5.0)
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "what is six times seven"}]
#: One pooled client for the module (building a client costs about 0.1 s: TLS defaults).
HTTP = httpx.Client(timeout=TIMEOUT)


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def shared_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["m"]) as up:
        yield up


@pytest.fixture
def upstream(shared_upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    """One server for the module, reset to its defaults for every test."""
    shared_upstream.reset(knobs=True)
    yield shared_upstream
    assert shared_upstream.wait_until_idle(), "a call was left open"


def chat(up: FakeUpstream, **body: Any) -> httpx.Response:
    payload = {"model": "m", "messages": USER, **body}
    return HTTP.post(f"{up.base_url}/chat/completions", json=payload)


def stream_events(up: FakeUpstream, **body: Any) -> list[str]:
    """The ``data`` of every SSE event of a streamed chat completion."""
    payload = {"model": "m", "messages": USER, "stream": True, **body}
    decoder = SSEDecoder()
    events = []
    with HTTP.stream("POST", f"{up.base_url}/chat/completions", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for raw in response.iter_raw():
            events += decoder.feed(raw)
    events += decoder.flush()
    return [e.data for e in events]


def chunks(events: list[str]) -> list[dict[str, Any]]:
    return [json.loads(e) for e in events if e != "[DONE]"]


def sync_client(up: FakeUpstream) -> openai.OpenAI:
    return closed_after_test(
        openai.OpenAI(base_url=up.base_url, api_key="k", max_retries=0, timeout=5.0)
    )


def async_client(up: FakeUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=up.base_url, api_key="k", max_retries=0, timeout=5.0)


# -- scripted replies through the official SDK ------------------------------------------------


def test_default_reply_sync_sdk(upstream: FakeUpstream) -> None:
    with sync_client(upstream) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == filler_text(16)
    assert completion.choices[0].message.content.endswith(DEFAULT_ANSWER)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 16)
    assert completion.usage.total_tokens == 21


def test_default_reply_sync_sdk_stream(upstream: FakeUpstream) -> None:
    with sync_client(upstream) as client:
        stream = client.chat.completions.create(
            model="m",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = list(stream)
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert text == filler_text(16)
    assert parts[0].choices[0].delta.role == "assistant"
    assert parts[-2].choices[0].finish_reason == "stop"
    assert parts[-1].choices == []
    assert parts[-1].usage is not None and parts[-1].usage.completion_tokens == 16


async def test_scripted_reply_async_sdk(upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: f"echo: {body['messages'][-1]['content']}"
    async with async_client(upstream) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        parts = [p async for p in stream]
    assert completion.choices[0].message.content == "echo: what is six times seven"
    streamed = "".join(p.choices[0].delta.content or "" for p in parts)
    assert streamed == "echo: what is six times seven"
    assert len(parts) == 2 + 6  # role chunk, one chunk per word, finish chunk


async def test_async_sdk_concurrent_calls_are_recorded(upstream: FakeUpstream) -> None:
    upstream.latency = 0.2
    async with async_client(upstream) as client:
        calls = [client.chat.completions.create(model="m", messages=USER) for _ in range(5)]
        results = await asyncio.gather(*calls)
    assert len(results) == 5
    assert upstream.calls == 5
    assert upstream.max_open_calls == 5
    assert upstream.open_calls == 0
    assert all(r.outcome == "completed" for r in upstream.chat_requests)


def test_reply_usage_status_headers_and_delay(upstream: FakeUpstream) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    upstream.responder = lambda body: Reply("a b c", usage=usage, headers={"x-test": "1"})
    response = chat(upstream)
    assert response.json()["usage"] == usage
    assert response.headers["x-test"] == "1"

    upstream.responder = lambda body: Reply("slow", delay=0.3)
    started = time.monotonic()
    assert chat(upstream).json()["choices"][0]["message"]["content"] == "slow"
    assert time.monotonic() - started >= 0.3

    upstream.responder = lambda body: Reply("no such thing", status=404)
    response = chat(upstream)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no such thing"


def test_max_tokens_cuts_the_reply_with_finish_reason_length(upstream: FakeUpstream) -> None:
    body = chat(upstream, max_tokens=4).json()
    assert body["choices"][0]["message"]["content"] == "Let us think step"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 4
    body = chat(upstream, max_completion_tokens=3, max_tokens=10).json()
    assert body["choices"][0]["message"]["content"] == "Let us think"
    assert chat(upstream, max_tokens=16).json()["choices"][0]["finish_reason"] == "stop"
    streamed = chunks(stream_events(upstream, max_tokens=2))
    assert streamed[-1]["choices"][0]["finish_reason"] == "length"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in streamed) == "Let us"


def test_n_choices_stream_round_robin(upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: "one two"
    body = chat(upstream, n=3).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    texts: dict[int, str] = {}
    for c in chunks(stream_events(upstream, n=2)):
        for choice in c["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + (
                choice["delta"].get("content") or ""
            )
    assert texts == {0: "one two", 1: "one two"}


def test_stream_wire_format(upstream: FakeUpstream) -> None:
    events = stream_events(upstream, stream_options={"include_usage": True})
    assert events[-1] == "[DONE]"
    parsed = chunks(events)
    ids = {c["id"] for c in parsed}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in parsed)
    assert all("usage" in c for c in parsed)
    assert all(c["usage"] is None for c in parsed[:-1])
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert parsed[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert parsed[-1]["choices"] == []
    assert parsed[-1]["usage"]["total_tokens"] == 21
    no_usage = chunks(stream_events(upstream))
    assert all("usage" not in c for c in no_usage)


# -- pacing and latency -----------------------------------------------------------------------


def test_stream_chunks_are_paced_not_buffered(upstream: FakeUpstream) -> None:
    upstream.tokens_per_second = 40  # 16 tokens -> about 0.4 s
    arrivals: list[float] = []
    payload = {"model": "m", "messages": USER, "stream": True}
    started = time.monotonic()
    with HTTP.stream(
        "POST", f"{upstream.base_url}/chat/completions", json=payload, timeout=TIMEOUT
    ) as response:
        decoder = SSEDecoder()
        for raw in response.iter_raw():
            arrivals += [time.monotonic() - started for _ in decoder.feed(raw)]
    assert len(arrivals) == 1 + 16 + 1 + 1  # role, tokens, finish, [DONE]
    assert arrivals[-1] >= 0.35
    assert arrivals[2] < arrivals[-1] - 0.25  # early tokens came well before the end


def test_non_stream_takes_latency_plus_tokens_over_rate(upstream: FakeUpstream) -> None:
    upstream.latency = 0.1
    upstream.tokens_per_second = 80  # 16 tokens -> 0.2 s
    started = time.monotonic()
    chat(upstream)
    assert time.monotonic() - started >= 0.3


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_status_fault_then_normal(upstream: FakeUpstream, code: int) -> None:
    upstream.faults.append(Fault.status(code, retry_after=0.1, retry_after_ms=100))
    response = chat(upstream)
    assert response.status_code == code
    assert response.headers["retry-after"] == "0.1"
    assert response.headers["retry-after-ms"] == "100"
    assert "error" in response.json()
    assert chat(upstream).status_code == 200  # the FIFO is consumed
    assert [r.fault for r in upstream.chat_requests] == ["status", None]
    assert [r.outcome for r in upstream.chat_requests] == ["error", "completed"]


def test_sdk_retries_429_with_retry_after(upstream: FakeUpstream) -> None:
    upstream.faults.extend(
        [Fault.status(429, retry_after=0.05), Fault.status(503, retry_after_ms=20)]
    )
    client = openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=2, timeout=5)
    with client:
        completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == filler_text(16)
    assert upstream.calls == 3


def test_status_fault_with_raw_body(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.status(404, body={"error": "model 'x' not found"}))
    response = chat(upstream)
    assert response.status_code == 404
    assert response.json() == {"error": "model 'x' not found"}


def test_status_fault_needs_error_code() -> None:
    with pytest.raises(ValueError):
        Fault.status(200)


def test_faults_callable(upstream: FakeUpstream) -> None:
    upstream.fault_for = lambda body: Fault.status(500) if body.get("seed") == 1 else None
    assert chat(upstream, seed=1).status_code == 500
    assert chat(upstream, seed=2).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_refuse_closes_without_response(upstream: FakeUpstream, stream: bool) -> None:
    upstream.faults.append(Fault.refuse())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        chat(upstream, stream=stream)
    assert upstream.wait_until_idle()
    assert upstream.chat_requests[0].outcome == "error"
    assert upstream.chat_requests[0].status is None
    assert chat(upstream).status_code == 200


def test_refuse_through_sdk_is_a_connection_error(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.refuse())
    with sync_client(upstream) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)


def test_connection_refused_on_unused_port() -> None:
    with pytest.raises(httpx.ConnectError):
        HTTP.get(unused_loopback_url())


def test_reset_mid_stream_after_some_chunks(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.reset_mid_body(after_chunks=3))
    received: list[bytes] = []
    payload = {"model": "m", "messages": USER, "stream": True}
    with (
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
        HTTP.stream("POST", f"{upstream.base_url}/chat/completions", json=payload) as response,
    ):
        assert response.status_code == 200
        received.extend(response.iter_raw())
    assert b"".join(received).count(b"data: ") == 3
    assert upstream.wait_until_idle()
    assert upstream.chat_requests[0].outcome == "error"
    assert upstream.chat_requests[0].chunks_sent == 3


def test_reset_mid_json_body(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.reset_mid_body())
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        chat(upstream)


def test_stall_before_headers_trips_a_read_timeout(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.stall_before_headers(3.0))
    payload = {"model": "m", "messages": USER}
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(f"{upstream.base_url}/chat/completions", json=payload, timeout=0.3)
    assert upstream.wait_until_idle(timeout=2.0)
    assert upstream.chat_requests[0].outcome == "client_disconnected"
    assert upstream.disconnected_calls == 1


def test_stall_before_headers_then_answers(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.stall_before_headers(0.3))
    started = time.monotonic()
    assert chat(upstream).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stall_mid_stream_leaves_a_gap(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.stall_mid_stream(0.6, after_chunks=2))
    arrivals: list[float] = []
    payload = {"model": "m", "messages": USER, "stream": True}
    with HTTP.stream(
        "POST", f"{upstream.base_url}/chat/completions", json=payload, timeout=TIMEOUT
    ) as response:
        decoder = SSEDecoder()
        for raw in response.iter_raw():
            arrivals += [time.monotonic() for _ in decoder.feed(raw)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert gaps[1] >= 0.5  # between chunk 2 and chunk 3 (the server sleeps 0.6 s)
    assert max(gaps) == gaps[1]
    assert len(arrivals) == 19


def test_stall_mid_json_body_trips_a_read_timeout(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.stall_mid_stream(3.0))
    payload = {"model": "m", "messages": USER}
    timeout = httpx.Timeout(5.0, read=0.3)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(f"{upstream.base_url}/chat/completions", json=payload, timeout=timeout)
    assert upstream.wait_until_idle(timeout=2.0)
    assert upstream.disconnected_calls == 1


def test_malformed_json(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.malformed_json())
    response = chat(upstream)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    upstream.faults.append(Fault.malformed_json())
    events = stream_events(upstream)
    assert events[-1] == "[DONE]"
    json.loads(events[0])
    with pytest.raises(ValueError):
        json.loads(events[1])


def test_malformed_json_through_sdk(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.malformed_json())
    with sync_client(upstream) as client, pytest.raises(ValueError):
        client.chat.completions.create(model="m", messages=USER)


def test_no_done(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.no_done())
    events = stream_events(upstream)
    assert "[DONE]" not in events
    assert json.loads(events[-1])["choices"][0]["finish_reason"] == "stop"
    assert upstream.wait_until_idle()
    assert upstream.chat_requests[0].outcome == "completed"


def test_length_fault(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.length())
    body = chat(upstream).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["message"]["content"] == " ".join(filler_text(16).split()[:8])
    upstream.faults.append(Fault.length())
    assert chunks(stream_events(upstream))[-1]["choices"][0]["finish_reason"] == "length"


def test_empty_choices(upstream: FakeUpstream) -> None:
    upstream.faults.append(Fault.empty_choices())
    assert chat(upstream).json()["choices"] == []
    upstream.faults.append(Fault.empty_choices())
    events = stream_events(upstream)
    assert events[-1] == "[DONE]"
    assert [c["choices"] for c in chunks(events)] == [[]]


# -- recording --------------------------------------------------------------------------------


def test_recording_of_body_headers_and_times(upstream: FakeUpstream) -> None:
    response = HTTP.post(
        f"{upstream.base_url}/chat/completions",
        json={"model": "m", "messages": USER, "extra_field": [1]},
        headers={"Authorization": "Bearer secret", "X-Request-Id": "r1"},
    )
    assert response.status_code == 200
    HTTP.get(f"{upstream.base_url}/models")
    record = upstream.chat_requests[0]
    assert record.body["extra_field"] == [1]
    assert record.headers["authorization"] == "Bearer secret"
    assert record.headers["x-request-id"] == "r1"
    assert record.ended is not None and record.ended >= record.started
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions", "/v1/models"]
    assert upstream.calls == 1
    upstream.reset()
    assert upstream.requests == [] and upstream.calls == 0 and upstream.max_open_calls == 0


async def test_client_disconnect_mid_stream_is_counted(upstream: FakeUpstream) -> None:
    upstream.tokens_per_second = 20  # 16 tokens -> 0.8 s
    payload = {"model": "m", "messages": USER, "stream": True}
    async with (
        httpx.AsyncClient(timeout=TIMEOUT) as client,
        client.stream("POST", f"{upstream.base_url}/chat/completions", json=payload) as response,
    ):
        async for _ in response.aiter_raw():
            break
        assert upstream.open_calls == 1
    for _ in range(200):
        if upstream.open_calls == 0:
            break
        await asyncio.sleep(0.01)
    assert upstream.open_calls == 0
    assert upstream.disconnected_calls == 1
    record = upstream.chat_requests[0]
    assert record.outcome == "client_disconnected"
    assert record.chunks_sent < 10


async def test_sdk_stream_closed_early_is_a_disconnect(upstream: FakeUpstream) -> None:
    upstream.tokens_per_second = 20
    async with async_client(upstream) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        async for _ in stream:
            break
        await stream.close()
    for _ in range(200):
        if upstream.open_calls == 0:
            break
        await asyncio.sleep(0.01)
    assert upstream.disconnected_calls == 1


# -- personalities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("personality", "expected"),
    [
        (
            "openai",
            {
                "error": {
                    "message": "bad",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "cerebras",
            {"message": "bad", "type": "invalid_request_error", "param": None, "code": None},
        ),
        (
            "vllm",
            {
                "object": "error",
                "message": "bad",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
        ),
        (
            "ollama",
            {
                "error": {
                    "message": "bad",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        ("llamacpp", {"error": {"code": 400, "message": "bad", "type": "invalid_request_error"}}),
    ],
)
def test_error_body_shapes(upstream: FakeUpstream, personality: Any, expected: Any) -> None:
    upstream.personality = personality
    upstream.faults.append(Fault.status(400, message="bad"))
    response = chat(upstream)
    assert response.status_code == 400
    assert response.json() == expected


@pytest.mark.parametrize(
    ("personality", "error_type"),
    [("openai", "server_error"), ("ollama", "api_error"), ("llamacpp", "unavailable_error")],
)
def test_server_error_types(upstream: FakeUpstream, personality: Any, error_type: str) -> None:
    upstream.personality = personality
    upstream.faults.append(Fault.status(503))
    assert chat(upstream).json()["error"]["type"] == error_type


def test_sdk_reads_every_error_shape(upstream: FakeUpstream) -> None:
    for personality in ("openai", "cerebras", "vllm", "ollama", "llamacpp"):
        upstream.personality = personality
        upstream.faults.append(Fault.status(400, message=f"bad for {personality}"))
        with sync_client(upstream) as client, pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="m", messages=USER)
        assert caught.value.status_code == 400


def test_cerebras_rate_limit_headers_and_reasoning_history(upstream: FakeUpstream) -> None:
    upstream.personality = "cerebras"
    response = chat(upstream)
    assert int(response.headers["x-ratelimit-remaining-requests-day"]) > 0
    for name in (
        "x-ratelimit-limit-requests-day",
        "x-ratelimit-limit-tokens-minute",
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-reset-requests-day",
        "x-ratelimit-reset-tokens-minute",
    ):
        assert name in response.headers
    upstream.faults.append(Fault.status(429, retry_after=1))
    limited = chat(upstream)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert "x-ratelimit-remaining-tokens-minute" in limited.headers

    history = [
        *USER,
        {"role": "assistant", "content": "42", "reasoning_content": "thought"},
        {"role": "user", "content": "why"},
    ]
    rejected = chat(upstream, messages=history)
    assert rejected.status_code == 400
    where = "messages.1.assistant.reasoning_content"
    assert rejected.json() == {
        "message": f"{where}: property '{where}' is unsupported",
        "type": "invalid_request_error",
        "param": "validation_error",
        "code": "wrong_api_format",
    }
    upstream.personality = "vllm"
    assert chat(upstream, messages=history).status_code == 200


@pytest.mark.parametrize(
    ("personality", "field"),
    [("vllm", "reasoning_content"), ("cerebras", "reasoning"), ("ollama", "reasoning")],
)
def test_reasoning_field(upstream: FakeUpstream, personality: Any, field: str) -> None:
    upstream.personality = personality
    upstream.responder = lambda body: Reply("42", reasoning="six sevens")
    message = chat(upstream).json()["choices"][0]["message"]
    assert message[field] == "six sevens"
    assert message["content"] == "42"
    deltas = [c["choices"][0]["delta"] for c in chunks(stream_events(upstream))]
    assert "".join(d.get(field, "") for d in deltas) == "six sevens"
    assert "".join(d.get("content", "") for d in deltas) == "42"


@pytest.mark.parametrize(
    ("personality", "choices"),
    [("openai", 2), ("vllm", 2), ("cerebras", 2), ("ollama", 1)],
)
def test_n_per_personality(upstream: FakeUpstream, personality: Any, choices: int) -> None:
    upstream.personality = personality
    assert len(chat(upstream, n=2).json()["choices"]) == choices


def test_llamacpp_refuses_n(upstream: FakeUpstream) -> None:
    upstream.personality = "llamacpp"
    response = chat(upstream, n=2)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": 500,
            "message": "Only one completion choice is allowed",
            "type": "server_error",
        }
    }
    assert len(chat(upstream, n=1).json()["choices"]) == 1


def test_llamacpp_omits_stream_usage(upstream: FakeUpstream) -> None:
    upstream.personality = "llamacpp"
    parsed = chunks(stream_events(upstream, stream_options={"include_usage": True}))
    assert all("usage" not in c and c["choices"] for c in parsed)


def test_ollama_ignores_max_completion_tokens(upstream: FakeUpstream) -> None:
    upstream.personality = "ollama"
    body = chat(upstream, max_completion_tokens=2).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 16
    assert chat(upstream, max_tokens=2).json()["choices"][0]["finish_reason"] == "length"


def test_model_lists() -> None:
    with FakeUpstream(personality="vllm", models=["a", "b"]) as up:
        listing = HTTP.get(f"{up.base_url}/models").json()
        assert listing["object"] == "list"
        assert [m["id"] for m in listing["data"]] == ["a", "b"]
        assert listing["data"][0]["max_model_len"] > 0
        assert listing["data"][0]["owned_by"] == "vllm"
        up.personality = "llamacpp"
        entry = HTTP.get(f"{up.base_url}/models").json()["data"][0]
        assert entry["meta"]["n_ctx_train"] > 0
        up.personality = "openai"
        with openai.OpenAI(base_url=up.base_url, api_key="k", max_retries=0) as client:
            assert [m.id for m in client.models.list()] == ["a", "b"]
        up.models_available = False
        assert HTTP.get(f"{up.base_url}/models").status_code == 503


def test_unknown_model_rejection_and_bad_requests(upstream: FakeUpstream) -> None:
    upstream.reject_unknown_models = True
    response = chat(upstream, model="nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    bad = HTTP.post(f"{upstream.base_url}/chat/completions", content=b"{not json", timeout=TIMEOUT)
    assert bad.status_code == 400
    assert chat(upstream, messages=[]).status_code == 400
    assert HTTP.get(f"{upstream.base_url}/nowhere").status_code == 404
    assert HTTP.get(f"{upstream.base_url}/chat/completions").status_code == 405


# -- the harness and the CLI ------------------------------------------------------------------


def test_history_limit_bounds_the_log_not_the_counters() -> None:
    with FakeUpstream(history_limit=3) as up:
        for seed in range(5):
            assert chat(up, seed=seed).status_code == 200
        assert up.calls == 5
        assert [r.body["seed"] for r in up.requests] == [2, 3, 4]


def test_many_servers_at_once() -> None:
    with FakeUpstream() as first, FakeUpstream() as second, FakeUpstream() as third:
        urls = {first.base_url, second.base_url, third.base_url}
        assert len(urls) == 3
        for url in urls:
            response = HTTP.post(
                f"{url}/chat/completions",
                json={"model": "x", "messages": USER},
            )
            assert response.status_code == 200


def test_stop_is_bounded_with_a_stalled_call() -> None:
    with FakeUpstream() as up:
        up.faults.append(Fault.stall_before_headers(30))
        with pytest.raises(httpx.ReadTimeout):
            HTTP.post(
                f"{up.base_url}/chat/completions",
                json={"model": "x", "messages": USER},
                timeout=0.2,
            )
        started = time.monotonic()
    assert time.monotonic() - started < 5


def test_failed_startup_raises() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "no"})

    with (
        pytest.raises(RuntimeError, match="failed to start"),
        serve_in_thread(broken, lifespan="on"),
    ):
        pass


def test_only_loopback_is_bound() -> None:
    with pytest.raises(ValueError), serve_in_thread(FakeUpstream(), host="0.0.0.0"):
        pass


def test_cli_runs_standalone() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = ["--port", "0", "--tokens", "5", "--personality", "vllm", "--models", "q"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_upstream", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake upstream listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1].strip()
        response = HTTP.post(
            f"{base_url}/chat/completions",
            json={"model": "q", "messages": USER},
        )
        assert response.json()["choices"][0]["message"]["content"] == filler_text(5)
        models = HTTP.get(f"{base_url}/models").json()
        assert models["data"][0]["id"] == "q"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_admin_routes_report_and_control_without_being_recorded(upstream: FakeUpstream) -> None:
    assert chat(upstream).status_code == 200
    stats = HTTP.get(f"{upstream.url}/_stats").json()
    assert stats == {
        "calls": 1,
        "open_calls": 0,
        "max_open_calls": 1,
        "disconnected_calls": 0,
        "prompt_tokens": 5,  # "what is six times seven"
        "completion_tokens": 16,
        "latency": 0.0,
        "tokens_per_second": None,
    }
    answer = HTTP.post(
        f"{upstream.url}/_control", json={"reset": True, "latency": 0.05, "tokens_per_second": 500}
    )
    assert answer.status_code == 200
    assert answer.json()["calls"] == answer.json()["completion_tokens"] == 0
    assert (upstream.latency, upstream.tokens_per_second) == (0.05, 500)
    started = time.monotonic()
    assert chat(upstream).status_code == 200
    assert time.monotonic() - started >= 0.05
    assert HTTP.post(f"{upstream.url}/_control", json={"latency": -1}).status_code == 400
    assert HTTP.post(f"{upstream.url}/_control", content=b"[").status_code == 400
    assert HTTP.post(f"{upstream.url}/_stats").status_code == 405
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions"]
