"""Every upstream fault, during pass-through (JSON and stream) and during each CePO stage.

The fault is injected on *every* upstream call of the chosen stage (``fault_for`` with a
predicate that recognises the stage by its prompt heading), retries included: the harshest
case. For each, the client gets a degraded but correct answer or a clear OpenAI error, within
the request deadline; then the upstream has no call open and the proxy's loop is back to its
baseline task count (checked by the ``clean`` fixture).

Limits stated: read timeout 0.3 s (stalls last 0.6 s), 1 retry, deadline 10 s (see
``conftest.RELIABILITY_SETTINGS``). CePO runs use 2 candidates x 1 plan (up to 2 attempts)
with absolute rating, so each stage is reached: plan, execute, refine, final, rate.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
import pytest

from tests.fake_upstream import FakeUpstream, Fault
from tests.openai_wire import assert_envelope, sse_data
from tests.proxies import InThreadProxy
from tests.reliability.conftest import RELIABILITY_SETTINGS
from tests.reliability.harness import read_stream, stage_of

FAULTS: dict[str, Fault] = {
    "429+retry-after": Fault.status(429, retry_after=0.05),
    "500": Fault.status(500),
    "502": Fault.status(502),
    "503": Fault.status(503),
    "reset-before-headers": Fault.refuse(),
    "reset-mid-body": Fault.reset_mid_body(after_chunks=2),
    "stall-before-headers": Fault.stall_before_headers(0.6),
    "stall-mid-stream": Fault.stall_mid_stream(0.6, after_chunks=2),
    "malformed-json": Fault.malformed_json(),
    "no-done": Fault.no_done(),
    "length": Fault.length(),
    "empty-choices": Fault.empty_choices(),
}
#: Faults that make a call fail outright (as opposed to cutting or shaping its answer).
FAILING = {
    "429+retry-after",
    "500",
    "502",
    "503",
    "reset-before-headers",
    "reset-mid-body",
    "stall-before-headers",
    "stall-mid-stream",
    "malformed-json",
    "empty-choices",
}
#: Statuses a clear upstream failure may surface as (never a bare 500).
UPSTREAM_ERROR_STATUSES = {429, 502, 503, 504}

QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
#: Two candidates, one plan each (up to two attempts), absolute rating: every stage is used.
SMALL_CEPO = {
    "bestofn_n": 2,
    "plan_step": True,
    "planning_n": 1,
    "planning_m": 2,
    "bestofn_rating_type": "absolute",
}
DEADLINE = float(RELIABILITY_SETTINGS["request_timeout"])

Expect = Literal["answer", "cut", "error", "relayed"]


def passthrough_expectation(fault: str, stream: bool) -> Expect:
    if fault in ("no-done", "length", "empty-choices"):
        return "relayed"  # the upstream's answer, unchanged
    if fault == "malformed-json" and stream:
        return "relayed"  # the bad line is relayed as it came; the stream still ends cleanly
    return "error"


def cepo_expectation(stage: str, fault: str) -> Expect:
    if stage in ("final", "final-live") and fault in FAILING:
        return "error"  # no candidate can write its answer: nothing to degrade to
    if stage in ("final", "final-live") and fault == "length":
        return "cut"  # the answer itself was cut: said so with finish_reason "length"
    return "answer"


def post(proxy: InThreadProxy, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(timeout=DEADLINE + 5) as client:
        return client.post(f"{proxy.v1}/chat/completions", json=body, headers=headers)


def check(response: httpx.Response, stream: bool, expect: Expect, answer_word: str) -> None:
    """The response is the expected outcome and well formed."""
    if response.status_code != 200:
        error = assert_envelope(response)
        assert expect == "error", f"unexpected error {response.status_code}: {error}"
        assert response.status_code in UPSTREAM_ERROR_STATUSES, response.status_code
        return
    if not stream:
        data = response.json()
        if expect == "relayed":
            assert "choices" in data
            return
        assert expect in ("answer", "cut"), f"expected an error, got {data}"
        choice = data["choices"][0]
        if expect == "cut":
            assert choice["finish_reason"] == "length"
        else:
            assert answer_word in choice["message"]["content"]
        return
    outcome = read_stream(sse_data(response.text))
    if outcome.error is not None:
        assert expect == "error", f"unexpected error chunk {outcome.error}"
        return
    if expect == "relayed":
        return
    assert expect in ("answer", "cut"), "expected an error, the stream finished"
    assert not outcome.unparsed
    if expect == "cut":
        assert outcome.finish_reasons == ["length"]
    else:
        assert answer_word in outcome.content
        assert outcome.finish_reasons == ["stop"]


def run_case(
    proxy: InThreadProxy,
    fake: FakeUpstream,
    fault: str,
    stage: str | None,
    body: dict[str, Any],
    headers: dict[str, str],
    expect: Expect,
) -> None:
    injected = FAULTS[fault]
    target = "final" if stage == "final-live" else stage
    fake.fault_for = lambda request: injected if stage_of(request) == target else None
    started = time.monotonic()
    response = post(proxy, body, headers)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE, f"took {elapsed:.1f}s, deadline {DEADLINE}s"
    assert any(r.fault == injected.kind for r in fake.chat_requests), "the fault never fired"
    check(response, bool(body.get("stream")), expect, "42")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_passthrough_fault(
    proxy: InThreadProxy, clean: FakeUpstream, fault: str, stream: bool
) -> None:
    body = {"model": "fake-model", "messages": QUESTION, "stream": stream}
    run_case(proxy, clean, fault, None, body, {}, passthrough_expectation(fault, stream))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("stage", ["plan", "execute", "refine", "final", "rate"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_cepo_stage_fault(
    proxy: InThreadProxy, clean: FakeUpstream, fault: str, stage: str, stream: bool
) -> None:
    body = {"model": "cepo-fake-model", "messages": QUESTION, "stream": stream, "cepo": SMALL_CEPO}
    headers = {"X-Reasoning-Mode": "verbose" if stream else "quiet"}
    run_case(proxy, clean, fault, stage, body, headers, cepo_expectation(stage, fault))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_cepo_live_answer_fault(proxy: InThreadProxy, clean: FakeUpstream, fault: str) -> None:
    """One candidate: the final answer streams live from the upstream, so mid-stream faults
    hit an answer the client is already reading."""
    body = {
        "model": "cepo-fake-model",
        "messages": QUESTION,
        "stream": True,
        "reasoning_effort": "low",
        "cepo": {"planning_n": 1, "planning_m": 2},
    }
    run_case(proxy, clean, fault, "final-live", body, {}, cepo_expectation("final-live", fault))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["fake-model", "cepo-fake-model"])
def test_connection_refused(make_proxy: Any, model: str, stream: bool) -> None:
    """Nothing listens at the upstream address: a clear 502 at once, for both routes."""
    from tests.servers import unused_loopback_url

    base = make_proxy(
        None,
        upstream_base_url=f"{unused_loopback_url()}/v1",
        upstream_kind="openai",
        upstream_max_retries=1,
    )
    body = {"model": model, "messages": QUESTION, "stream": stream, "cepo": SMALL_CEPO}
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=DEADLINE + 5)
    assert time.monotonic() - started < DEADLINE
    if response.status_code == 200:
        assert stream and model.startswith("cepo-")
        outcome = read_stream(sse_data(response.text))
        assert outcome.error is not None
        assert outcome.error["type"] in ("upstream_error", "server_error")
    else:
        assert assert_envelope(response) and response.status_code == 502
