"""``/metrics`` after real traffic: every metric the issue names is present and moves."""

from __future__ import annotations

import time

import httpx
import openai

from tests.conftest import ProxyFactory, closed_after_test
from tests.fake_upstream import FakeUpstream, Fault
from tests.scrape import scrape

CHAT = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]


def sdk(base: str) -> openai.OpenAI:
    return closed_after_test(
        openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=30)
    )


def test_metric_names_follow_prometheus_conventions(proxy: str) -> None:
    families = scrape(proxy).families
    expected = {
        "cepo_proxy_requests": "counter",
        "cepo_proxy_request_duration_seconds": "histogram",
        "cepo_proxy_time_to_first_byte_seconds": "histogram",
        "cepo_proxy_stage_duration_seconds": "histogram",
        "cepo_proxy_candidates_dropped": "counter",
        "cepo_proxy_requests_in_flight": "gauge",
        "cepo_proxy_upstream_calls": "counter",
        "cepo_proxy_upstream_call_duration_seconds": "histogram",
        "cepo_proxy_upstream_errors": "counter",
        "cepo_proxy_upstream_retries": "counter",
        "cepo_proxy_upstream_tokens": "counter",
        "cepo_proxy_upstream_calls_in_flight": "gauge",
        "cepo_proxy_upstream_calls_cancelled": "counter",
        "cepo_proxy_upstream_ratelimit_remaining": "gauge",
    }
    assert {name: families.get(name) for name in expected} == expected
    assert all(name.startswith("cepo_proxy_") for name in families)


def test_traffic_moves_request_upstream_and_stage_metrics(
    proxy: str, upstream: FakeUpstream
) -> None:
    client = sdk(proxy)
    client.chat.completions.create(model="fake-model", messages=QUESTION)  # type: ignore[arg-type]
    # the planned shape, so every stage runs: 3 x (3 plans + 3 executions + refine + final)
    # + 3 ratings
    planned = {"plan_step": True, "planning_n": 3, "planning_m": 6, "bestofn_rating_type": "binary"}
    reply = client.chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_body={"cepo": planned},
    )
    stream = client.chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        reasoning_effort="low",
        extra_headers={"X-Reasoning-Mode": "quiet"},
    )
    assert "42" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    cepo_calls = (reply.model_extra or {})["cepo"]["upstream_calls"]
    assert cepo_calls == 27 and upstream.calls == 1 + 27 + 6

    m = scrape(proxy)
    ok = {"route": CHAT, "status_class": "2xx"}
    requests = "cepo_proxy_requests_total"
    assert m.value(requests, model="fake-model", mode="passthrough", **ok) == 1
    assert m.value(requests, model="cepo-fake-model", mode="verbose", **ok) == 1
    assert m.value(requests, model="cepo-fake-model", mode="quiet", **ok) == 1
    for mode in ("passthrough", "verbose", "quiet"):
        labels = {"route": CHAT, "mode": mode}
        assert m.value("cepo_proxy_request_duration_seconds_count", **labels) == 1
        assert m.value("cepo_proxy_request_duration_seconds_sum", **labels) > 0
        assert m.value("cepo_proxy_time_to_first_byte_seconds_count", **labels) == 1
    for stage in ("plan", "execute", "refine", "final", "rate"):
        assert m.value("cepo_proxy_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert m.value("cepo_proxy_stage_duration_seconds_count", stage="rate") == 1  # low: none

    calls = upstream.calls
    assert m.value("cepo_proxy_upstream_calls_total", kind="openai", status_class="2xx") == calls
    assert m.value("cepo_proxy_upstream_call_duration_seconds_count", kind="openai") == calls
    # The fake counts a word as a token: every call's prompt and reply, the pass-through too.
    tokens_in = m.value("cepo_proxy_upstream_tokens_total", kind="openai", direction="in")
    tokens_out = m.value("cepo_proxy_upstream_tokens_total", kind="openai", direction="out")
    assert tokens_out == 16 * calls
    assert tokens_in > 5 * calls
    assert m.value("cepo_proxy_upstream_calls_in_flight", kind="openai") == 0
    assert m.value("cepo_proxy_requests_in_flight", route=CHAT) == 0
    assert m.value("cepo_proxy_requests_in_flight", route="/metrics") == 1  # this scrape
    assert m.value("cepo_proxy_upstream_retries_total") == 0
    assert m.value("cepo_proxy_upstream_calls_cancelled_total") == 0


def test_errors_retries_and_status_classes(proxy: str, upstream: FakeUpstream) -> None:
    body = {"model": "fake-model", "messages": QUESTION}
    upstream.faults = [Fault.status(503, retry_after=0)]
    assert httpx.post(f"{proxy}{CHAT}", json=body, timeout=10).status_code == 200
    upstream.faults = [Fault.status(400, message="bad")]
    assert httpx.post(f"{proxy}{CHAT}", json=body, timeout=10).status_code == 400
    upstream.faults = [Fault.malformed_json()]
    assert httpx.post(f"{proxy}{CHAT}", json=body, timeout=10).status_code == 502
    assert httpx.post(f"{proxy}{CHAT}", content=b"{", timeout=10).status_code == 400
    assert httpx.get(f"{proxy}/nowhere", timeout=10).status_code == 404

    m = scrape(proxy)
    assert m.value("cepo_proxy_upstream_retries_total", kind="openai") == 1
    assert m.value("cepo_proxy_upstream_errors_total", kind="openai", status="503") == 1
    assert m.value("cepo_proxy_upstream_errors_total", kind="openai", status="400") == 1
    assert m.value("cepo_proxy_upstream_errors_total", kind="openai", status="protocol") == 1
    assert m.value("cepo_proxy_upstream_calls_total", status_class="4xx") == 1
    requests = "cepo_proxy_requests_total"
    assert m.value(requests, route=CHAT, status_class="2xx") == 1
    # A failed request's model is not trusted as a label (it is whatever the client sent).
    assert m.value(requests, route=CHAT, model="invalid", status_class="4xx") == 2
    assert m.value(requests, route=CHAT, model="invalid", status_class="5xx") == 1
    assert m.value(requests, route="other", status_class="4xx") == 1
    for labels in m.labels_of(requests):
        assert labels["model"] in {"fake-model", "invalid", "none"}


def test_client_disconnect_counts_cancelled_calls(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(models=["m"], latency=3.0) as slow:
        base = make_proxy(slow)
        body = {"model": "cepo-m", "messages": QUESTION, "stream": True}
        with (
            httpx.Client(timeout=5) as http,
            http.stream("POST", f"{base}{CHAT}", json=body) as response,
        ):
            lines = response.iter_lines()  # kept referenced: dropping it disconnects
            for line in lines:
                if line.startswith("data:"):
                    break
            until = time.monotonic() + 2
            # the default preset's first wave: 3 candidates x 7 samples
            while slow.open_calls < 21 and time.monotonic() < until:
                time.sleep(0.01)
            during = scrape(base)
            assert during.value("cepo_proxy_upstream_calls_in_flight") == 21
            assert during.value("cepo_proxy_requests_in_flight", route=CHAT) == 1
        until = time.monotonic() + 2
        while slow.open_calls and time.monotonic() < until:
            time.sleep(0.01)
        m = scrape(base)
        until = time.monotonic() + 2
        while m.value("cepo_proxy_requests_in_flight", route=CHAT) and time.monotonic() < until:
            time.sleep(0.02)
            m = scrape(base)
    assert m.value("cepo_proxy_upstream_calls_cancelled_total") == 21
    assert m.value("cepo_proxy_upstream_calls_in_flight") == 0
    assert m.value("cepo_proxy_requests_in_flight", route=CHAT) == 0
    assert m.value("cepo_proxy_upstream_calls_total") == 0  # none finished


def test_cerebras_rate_limit_headers_become_gauges(make_proxy: ProxyFactory) -> None:
    with FakeUpstream(personality="cerebras", models=["llama"]) as cerebras:
        base = make_proxy(cerebras)
        sdk(base).chat.completions.create(model="llama", messages=QUESTION)  # type: ignore[arg-type]
        sdk(base).chat.completions.create(model="llama", messages=QUESTION)  # type: ignore[arg-type]
        m = scrape(base)
    gauge = "cepo_proxy_upstream_ratelimit_remaining"
    # The fake's remaining budget is 14400 minus its calls so far: the last answer's wins.
    assert m.value(gauge, kind="cerebras", resource="requests-day") == 14_400 - 2
    assert m.value(gauge, kind="cerebras", resource="tokens-minute") == 60_000
    assert {labels["resource"] for labels in m.labels_of(gauge)} == {
        "requests-day",
        "tokens-minute",
    }
