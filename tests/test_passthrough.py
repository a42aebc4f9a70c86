"""Pass-through through the real proxy, with the official OpenAI SDK as the client."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory, closed_after_test
from tests.fake_upstream import FakeUpstream, Fault, Reply
from tests.openai_wire import iter_sse_data, sse_data


def client(base: str, **kwargs: object) -> openai.OpenAI:
    return closed_after_test(
        openai.OpenAI(base_url=f"{base}/v1", api_key="client-key", max_retries=0, **kwargs)  # type: ignore[arg-type]
    )


def test_non_streaming_content_and_usage_unchanged(proxy: str, upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: Reply(
        "Paris is the capital.",
        usage={"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    )
    direct = client(upstream.base_url.removesuffix("/v1")).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    via = client(proxy).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert via.choices[0].message.content == direct.choices[0].message.content
    assert via.usage == direct.usage
    assert via.usage is not None and via.usage.total_tokens == 16


async def test_async_sdk_streaming_relays_every_chunk(proxy: str, upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: "one two three four five"
    async with openai.AsyncOpenAI(base_url=f"{proxy}/v1", api_key="k", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces = []
        usage = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.usage:
                usage = chunk.usage
    assert "".join(pieces).split() == ["one", "two", "three", "four", "five"]
    assert usage is not None and usage.completion_tokens == 5


def test_unknown_fields_and_tools_go_upstream_unchanged(proxy: str, upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    client(proxy).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,  # type: ignore[arg-type]
        extra_body={"some_new_field": {"x": [1, 2]}, "top_k": 5},
    )
    sent = upstream.chat_requests[-1].body
    assert sent["tools"] == tools
    assert sent["some_new_field"] == {"x": [1, 2]}
    assert sent["top_k"] == 5


def test_chunks_arrive_before_the_upstream_finishes(proxy: str, upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: " ".join(f"w{i}" for i in range(20))
    upstream.tokens_per_second = 20  # the whole answer takes about one second
    started = time.monotonic()
    arrivals = []
    stream = client(proxy).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "go"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 20
    assert arrivals[0] < 0.5 < arrivals[-1]


def test_n_is_split_for_upstreams_that_ignore_it(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(personality="ollama", models=["m"]) as fake:
        base = make_proxy(fake)
        reply = client(base).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], n=3
        )
        assert [c.index for c in reply.choices] == [0, 1, 2]
        assert fake.calls == 3
        assert all("n" not in r.body for r in fake.chat_requests)
        stream = client(base).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], n=2, stream=True
        )
        indices = {c.choices[0].index for c in stream if c.choices}
        assert indices == {0, 1}


def test_ollama_gets_max_tokens_instead_of_max_completion_tokens(
    make_proxy: ProxyFactory,
) -> None:
    with FakeUpstream(personality="ollama", models=["m"]) as fake:
        client(make_proxy(fake)).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=7
        )
        sent = fake.chat_requests[-1].body
        assert sent["max_tokens"] == 7 and "max_completion_tokens" not in sent


def test_cerebras_history_is_stripped_of_reasoning(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(personality="cerebras", models=["m"]) as fake:
        client(make_proxy(fake)).chat.completions.create(
            model="m",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning_content": "hmm"},  # type: ignore[list-item,misc]
                {"role": "user", "content": "again"},
            ],
        )
        sent = fake.chat_requests[-1].body
        assert all("reasoning_content" not in m for m in sent["messages"])


def test_usage_chunk_added_when_the_upstream_omits_it(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(personality="llamacpp", models=["m"]) as fake:
        fake.responder = lambda body: "a b c d"
        stream = client(make_proxy(fake)).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = [c.usage for c in stream if c.usage]
        assert len(usage) == 1
        assert usage[0].completion_tokens >= 1
        assert (usage[0].model_extra or {}).get("estimated") is True


def test_retry_on_429_with_retry_after_then_success(proxy: str, upstream: FakeUpstream) -> None:
    upstream.faults = [Fault.status(429, retry_after=0.2)]
    started = time.monotonic()
    reply = client(proxy).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    assert upstream.calls == 2
    assert time.monotonic() - started >= 0.2


def test_upstream_4xx_keeps_its_status_in_the_openai_envelope(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(personality="vllm", models=["m"], reject_unknown_models=True) as fake:
        with pytest.raises(openai.NotFoundError) as caught:
            client(make_proxy(fake)).chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "hi"}]
            )
        body = caught.value.body
        assert isinstance(body, dict) and {"message", "type", "param", "code"} <= set(body)


def test_upstream_5xx_after_retries_is_a_502(proxy: str, upstream: FakeUpstream) -> None:
    upstream.faults = [Fault.status(503)] * 3
    with pytest.raises(openai.APIStatusError) as caught:
        client(proxy).chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 502
    assert upstream.calls == 3


def test_disconnect_closes_the_upstream_stream(proxy: str, upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: " ".join(f"w{i}" for i in range(200))
    upstream.tokens_per_second = 20
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            f"{proxy}/v1/chat/completions",
            json={
                "model": "fake-model",
                "messages": [{"role": "user", "content": "x"}],
                "stream": True,
            },
        ) as response,
    ):
        for _ in iter_sse_data(response):
            break
    deadline = time.monotonic() + 2
    while upstream.open_calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.open_calls == 0
    assert upstream.disconnected_calls == 1


def test_error_mid_stream_becomes_an_error_chunk_then_done(
    proxy: str, upstream: FakeUpstream
) -> None:
    upstream.faults = [Fault.reset_mid_body(after_chunks=2)]
    with httpx.Client(timeout=10) as http:
        response = http.post(
            f"{proxy}/v1/chat/completions",
            json={
                "model": "fake-model",
                "messages": [{"role": "user", "content": "x"}],
                "stream": True,
            },
        )
    events = sse_data(response.text)
    assert events[-1] == "[DONE]"
    assert '"error"' in events[-2]
