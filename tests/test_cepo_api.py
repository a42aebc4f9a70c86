"""CePO through the real proxy: the OpenAI SDK as client, the scripted upstream behind it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from reasoning.config import CePOConfig
from server.translate import opening_block
from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream, Fault, filler_text
from tests.openai_wire import iter_sse_data, sse_data

QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
FILLER_WORD = filler_text(8).split()[1]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {}}}


def sse_lines(base: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{base}/v1/chat/completions", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return sse_data(response.text)


def chunks_of(lines: list[str]) -> list[dict[str, Any]]:
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.fixture
def cepo(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream)


def test_non_streaming_answer_usage_and_metadata(cepo: str, upstream: FakeUpstream) -> None:
    reply = sdk(cepo).chat.completions.create(model="cepo-fake-model", messages=QUESTION)  # type: ignore[arg-type]
    assert reply.model == "cepo-fake-model"
    assert "42" in (reply.choices[0].message.content or "")
    meta = (reply.model_extra or {})["cepo"]
    assert meta["upstream_calls"] == 27 == upstream.calls
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    reasoning = reply.usage.completion_tokens_details.reasoning_tokens or 0
    assert 0 < reasoning < reply.usage.completion_tokens
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    trace = (reply.choices[0].message.model_extra or {}).get("reasoning_content")
    assert trace and "plan" in trace.lower()


def test_quiet_non_streaming_has_no_trace(cepo: str) -> None:
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_headers={"X-Reasoning-Mode": "quiet"},
    )
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})


def test_verbose_stream_order(cepo: str) -> None:
    chunks = chunks_of(
        sse_lines(
            cepo,
            {
                "model": "cepo-fake-model",
                "messages": QUESTION,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    kinds = []
    for chunk in chunks[1:]:
        if not chunk["choices"]:
            kinds.append("usage")
            continue
        choice = chunk["choices"][0]
        if choice["finish_reason"]:
            kinds.append("finish")
        elif "reasoning_content" in choice["delta"]:
            kinds.append("reasoning")
        elif choice["delta"].get("content"):
            kinds.append("content")
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning"}
    assert "reasoning" not in kinds[first_content:]
    assert kinds[-2:] == ["finish", "usage"]
    blocks = [
        c["choices"][0]["delta"]["reasoning_content"]
        for c in chunks[1:]
        if c["choices"] and "reasoning_content" in c["choices"][0]["delta"]
    ]
    assert all(block.startswith("### ") for block in blocks)
    assert any("rat" in block.lower() for block in blocks)  # ratings shown with verdicts
    usage_chunk = chunks[-1]
    assert usage_chunk["usage"]["total_tokens"] > 0
    assert usage_chunk["cepo"]["upstream_calls"] == 27


def test_quiet_stream_has_status_lines_only(cepo: str) -> None:
    chunks = chunks_of(
        sse_lines(
            cepo,
            {"model": "cepo-fake-model", "messages": QUESTION, "stream": True},
            {"X-Reasoning-Mode": "quiet"},
        )
    )
    statuses = [
        c["choices"][0]["delta"]["reasoning_content"]
        for c in chunks
        if c["choices"] and "reasoning_content" in c["choices"][0]["delta"]
    ]
    assert statuses
    assert all(len(s) < 120 and FILLER_WORD not in s for s in statuses)


def test_think_format_puts_reasoning_in_content(cepo: str) -> None:
    chunks = chunks_of(
        sse_lines(
            cepo,
            {
                "model": "cepo-fake-model",
                "messages": QUESTION,
                "stream": True,
                "reasoning_effort": "low",
            },
            {"X-Reasoning-Format": "think"},
        )
    )
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    contents = [c for c in contents if c]
    assert contents[0] == "<think>\n"
    assert "</think>\n\n" in contents
    assert all("reasoning_content" not in c["choices"][0]["delta"] for c in chunks if c["choices"])
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,
        reasoning_effort="low",  # type: ignore[arg-type]
        extra_headers={"X-Reasoning-Format": "think"},
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("<think>\n") and "</think>\n\n" in content


def test_json_response_format_keeps_content_clean(cepo: str, upstream: FakeUpstream) -> None:
    upstream.responder = lambda body: (
        '{"answer": 42}' if body.get("response_format") else filler_text(12)
    )
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,
        reasoning_effort="low",  # type: ignore[arg-type]
        response_format={"type": "json_object"},
        extra_headers={"X-Reasoning-Format": "think"},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}
    with_format = [r for r in upstream.chat_requests if r.body.get("response_format")]
    assert len(with_format) == 1  # the final step only


def test_low_effort_samples_the_question_four_times_then_refines_and_answers(
    cepo: str, upstream: FakeUpstream
) -> None:
    # `low` since session 9 (bench/RESULTS.md, arm `lowplain`): no plans; 4 plain samples of
    # the client's conversation at 0.7, the refine step over them, the final answer
    asks = [{"role": "user", "content": "What is 6 times 7? End with a line 'Answer: <n>'."}]
    upstream.responder = lambda body: "6 x 7 = 42.\nAnswer: 42"
    response = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=asks,  # type: ignore[arg-type]
        reasoning_effort="low",  # type: ignore[arg-type]
    )
    assert response.choices[0].message.content == "6 x 7 = 42.\nAnswer: 42"
    meta = (response.model_extra or {})["cepo"]
    assert meta["upstream_calls"] == 6 == upstream.calls
    assert "plan" not in meta["stage_timings"] and meta["config"]["plan_step"] is False
    samples = [r.body for r in upstream.chat_requests if r.body["messages"] == asks]
    assert [body["temperature"] for body in samples] == [0.7] * 4
    steps = [r.body["messages"][-1]["content"] for r in upstream.chat_requests]
    assert not any(step.startswith("# Step: plan") for step in steps)


def test_direct_on_disagreement_answers_directly_when_the_executions_disagree(
    cepo: str, upstream: FakeUpstream
) -> None:
    # the planned low of sessions 4-8 (the rig's arm `lowdirect`), now an option
    asks = [{"role": "user", "content": "What is 6 times 7? End with a line 'Answer: <n>'."}]
    executions = ["6 x 7 = 42.\nAnswer: 42", "6 x 7 = 48.\nAnswer: 48"]
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        if body["messages"] == asks:
            return "Answer: 42"  # the direct answer: the client's conversation as sent
        if last.startswith("# Step: execute"):
            with lock:  # the fake answers from its own threads
                return executions.pop()
        return "1. Multiply 6 by 7."

    upstream.responder = reply
    response = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=asks,  # type: ignore[arg-type]
        reasoning_effort="low",  # type: ignore[arg-type]
        extra_body={
            "cepo": {
                "plan_step": True,
                "planning_n": 2,
                "planning_m": 4,
                "direct_on_disagreement": True,
            }
        },
    )
    assert response.choices[0].message.content == "Answer: 42"
    meta = (response.model_extra or {})["cepo"]
    (split,) = meta["direct_on_disagreement"]  # the executions run side by side
    assert split["candidate"] == 1 and sorted(split["execution_answers"]) == ["42", "48"]
    assert meta["upstream_calls"] == 5 == upstream.calls  # 2 plans, 2 executions, 1 direct
    direct = [r for r in upstream.chat_requests if r.body["messages"] == asks]
    assert len(direct) == 1 and direct[0].body["temperature"] == 0.0
    trace = (response.choices[0].message.model_extra or {}).get("reasoning_content") or ""
    assert "the executions disagree" in trace


def test_a_final_that_overturns_its_executions_is_written_again_from_one(
    cepo: str, upstream: FakeUpstream
) -> None:
    # the default preset: every sample of the question says 42, the first final written 48
    question = "What is 6 times 7? End with a line 'Answer: <n>'."
    asks = [{"role": "user", "content": question}]
    execution = "6 x 7 = 42.\nAnswer: 42"
    lock = threading.Lock()
    finals: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        if last == question:  # a plain sample (medium has no plan step)
            return execution
        if last.startswith("# Step: final answer"):
            with lock:  # the fake answers from its own threads
                finals.append(body)
                return "6 x 7 = 48.\nAnswer: 48" if len(finals) == 1 else "Answer: 42"
        return "Checked: 6 x 7 = 42."

    upstream.responder = reply
    response = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=asks,  # type: ignore[arg-type]
    )
    assert response.choices[0].message.content == "Answer: 42"
    meta = (response.model_extra or {})["cepo"]
    (record,) = meta["finals_against_majority"]
    assert (record["final_answer"], record["majority_answer"]) == ("48", "42")
    assert (record["executions"], record["kept"]) == ("7 of 7", "majority")
    # 3 x (7 samples + refine + final), the majority rating makes no calls, one final again
    assert meta["upstream_calls"] == 28 == upstream.calls
    again = next(
        body for body in finals if any(m["content"] == execution for m in body["messages"])
    )
    assert again["temperature"] == 0.0
    trace = (response.choices[0].message.model_extra or {}).get("reasoning_content") or ""
    assert "the final answer overturns the executions" in trace


def test_the_plurality_override_rewrites_a_final_against_two_of_four_samples(
    cepo: str, upstream: FakeUpstream
) -> None:
    # `low`'s 4 plain samples say 42, 42, 41, 43 (no majority, a plurality of 42); the
    # final says 41; with keep_execution_plurality it is written again from a 42 sample
    question = "What is 6 times 7? End with a line 'Answer: <n>'."
    asks = [{"role": "user", "content": question}]
    samples = ["Answer: 42", "Answer: 41", "Answer: 43", "Answer: 42"]
    lock = threading.Lock()
    finals: list[str] = []

    def reply(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        with lock:  # the fake answers from its own threads
            if last == question:
                return samples.pop()
            if last.startswith("# Step: final answer"):
                finals.append(last)
                return "Answer: 41" if len(finals) == 1 else "So: 42.\nAnswer: 42"
        return "Checked."

    upstream.responder = reply
    response = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=asks,  # type: ignore[arg-type]
        reasoning_effort="low",  # type: ignore[arg-type]
        extra_body={"cepo": {"keep_execution_plurality": True}},
    )
    assert response.choices[0].message.content == "So: 42.\nAnswer: 42"
    meta = (response.model_extra or {})["cepo"]
    (record,) = meta["finals_against_majority"]
    assert (record["majority_answer"], record["executions"], record["kept"]) == (
        "42",
        "2 of 4",
        "majority",
    )
    assert meta["config"]["keep_execution_plurality"] is True
    assert meta["upstream_calls"] == 7 == upstream.calls  # 4 samples, refine, 2 finals


def test_low_effort_and_overrides_change_the_work(cepo: str, upstream: FakeUpstream) -> None:
    sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,
        reasoning_effort="low",  # type: ignore[arg-type]
    )
    low_calls = upstream.calls
    upstream.reset()
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_body={
            "cepo": {
                "bestofn_n": 2,
                "plan_step": True,
                "planning_n": 1,
                "planning_m": 2,
                "bestofn_rating_type": "majority",
            }
        },
    )
    assert low_calls == 6
    # 2 candidates x (plan + execute + refine + final), majority needs no rating calls
    assert upstream.calls == 8 == (reply.model_extra or {})["cepo"]["upstream_calls"]
    assert all(
        "reasoning_effort" not in r.body and "cepo" not in r.body for r in upstream.chat_requests
    )


def test_plan_step_off_samples_the_conversation_through_the_proxy(
    cepo: str, upstream: FakeUpstream
) -> None:
    asks = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 6 times 7? End with a line 'Answer: <n>'."},
    ]

    def reply(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        if last.startswith("# Step: refine"):
            return "Both solutions give 42."
        if last.startswith("# Step: final answer"):
            return "Answer: 42"
        return "6 x 7 = 42.\nAnswer: 42"  # a plain sample of the conversation

    upstream.responder = reply
    response = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=asks,  # type: ignore[arg-type]
        extra_body={
            "cepo": {
                "plan_step": False,
                "bestofn_n": 1,
                "planning_n": 2,
                "planning_m": 3,
                "execution_temperature": 0.7,
            }
        },
    )
    assert response.choices[0].message.content == "Answer: 42"
    meta = (response.model_extra or {})["cepo"]
    # two samples, refine, final; no plan call
    assert meta["upstream_calls"] == 4 == upstream.calls
    samples = [r.body for r in upstream.chat_requests if r.body["messages"] == asks]
    assert len(samples) == 2 and all(body["temperature"] == 0.7 for body in samples)
    assert not any(
        m["content"].startswith("# Step: plan")
        for r in upstream.chat_requests
        for m in r.body["messages"]
    )
    trace = (response.choices[0].message.model_extra or {}).get("reasoning_content") or ""
    assert "### Candidate 1 · solution (attempt 2, no plan)" in trace
    opening = opening_block(CePOConfig(plan_step=False, bestofn_n=1, planning_n=2), None)
    assert "1 candidate, 2 solutions (no plans) each (up to 6 attempts): solve, refine" in opening


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"cepo": {"plan_step": False, "plan_diversity": True}}, "cepo"),
        ({"cepo": {"bestofn_nn": 2}}, "cepo.bestofn_nn"),
        ({"cepo": {"bestofn_n": 0}}, "cepo.bestofn_n"),
        ({"cepo": {"planning_temperature": 9}}, "cepo.planning_temperature"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_bad_reasoning_options_are_400s_naming_the_field(
    cepo: str, upstream: FakeUpstream, extra: dict[str, Any], param: str
) -> None:
    response = httpx.post(
        f"{cepo}/v1/chat/completions",
        json={"model": "cepo-fake-model", "messages": QUESTION, **extra},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert upstream.calls == 0


def test_bad_reasoning_mode_header_is_a_400(cepo: str) -> None:
    response = httpx.post(
        f"{cepo}/v1/chat/completions",
        json={"model": "cepo-fake-model", "messages": QUESTION},
        headers={"X-Reasoning-Mode": "loud"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Reasoning-Mode"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"reasoning_effort": "none"}, "reasoning_effort"),
        ({"reasoning_effort": "Minimal"}, "reasoning_effort"),
        ({"reasoning": {"enabled": False}}, "reasoning_effort"),
        ({"tools": [TOOL], "cepo": {"tools": "passthrough"}}, "tools"),
        ({"tools": [TOOL], "tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}},
            "tool_choice",
        ),
    ],
)
def test_bypass_passes_through_to_the_upstream_model(
    cepo: str, upstream: FakeUpstream, extra: dict[str, Any], reason: str
) -> None:
    response = httpx.post(
        f"{cepo}/v1/chat/completions",
        json={"model": "cepo-fake-model", "messages": QUESTION, **extra},
    )
    assert response.status_code == 200
    assert response.headers["X-Reasoning-Bypassed"] == reason
    assert upstream.calls == 1
    sent = upstream.chat_requests[0].body
    assert sent["model"] == "fake-model" and "reasoning_effort" not in sent
    assert "cepo" not in sent and "reasoning" not in sent
    assert sent.get("tools") == extra.get("tools")


def test_request_settings_are_respected(cepo: str, upstream: FakeUpstream) -> None:
    sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,
        seed=7,
        user="u-1",  # type: ignore[arg-type]
        max_tokens=33,
        temperature=1.3,
        stop=["END"],
    )
    bodies = [r.body for r in upstream.chat_requests]
    assert all(b.get("seed") == 7 and b.get("user") == "u-1" for b in bodies)
    temperatures = sorted({b["temperature"] for b in bodies})
    assert temperatures == [0.0, 0.1, 0.7]  # per step; the request's 1.3 is not used
    limited = [b for b in bodies if b.get("max_tokens") == 33]
    assert len(limited) == 3 and all(b.get("stop") == ["END"] for b in limited)
    assert all(b["temperature"] == 0.0 for b in limited)


def test_n_runs_independent_cepo_runs(cepo: str, upstream: FakeUpstream) -> None:
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,
        n=2,
        reasoning_effort="low",  # type: ignore[arg-type]
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert upstream.calls == 12


def test_first_event_leaves_before_any_upstream_call_returns(
    make_proxy: ProxyFactory,
) -> None:
    with FakeUpstream(models=["m"], latency=1.0) as slow:
        base = make_proxy(slow)
        started = time.monotonic()
        with (
            httpx.Client(timeout=30) as http,
            http.stream(
                "POST",
                f"{base}/v1/chat/completions",
                json={"model": "cepo-m", "messages": QUESTION, "stream": True},
            ) as response,
        ):
            for data in iter_sse_data(response):
                assert time.monotonic() - started < 0.5
                assert '"role":"assistant"' in data
                break
        assert slow.wait_until_idle(3.0)


@pytest.mark.parametrize("stream", [True, False])
def test_client_disconnect_cancels_every_upstream_call(
    make_proxy: ProxyFactory, stream: bool
) -> None:
    with FakeUpstream(models=["m"], latency=3.0) as slow:
        base = make_proxy(slow)
        body = {"model": "cepo-m", "messages": QUESTION, "stream": stream}
        with httpx.Client(timeout=0.8) as http:
            try:
                with http.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
                    # Keep the iterator referenced: dropping it closes the connection.
                    events = iter_sse_data(response)
                    for _ in events:
                        break
                    started = time.monotonic() + 2
                    while slow.open_calls < 9 and time.monotonic() < started:
                        time.sleep(0.01)
            except httpx.ReadTimeout:
                pass  # the non-streaming client gives up waiting
        assert slow.calls >= 9  # the first wave of plans had started
        left = time.monotonic()
        while slow.open_calls and time.monotonic() < left + 1.0:
            time.sleep(0.01)
        assert slow.open_calls == 0
        assert slow.disconnected_calls == slow.calls


def test_all_candidates_failing_is_an_error(cepo: str, upstream: FakeUpstream) -> None:
    upstream.fault_for = lambda body: Fault.status(500)
    response = httpx.post(
        f"{cepo}/v1/chat/completions",
        json={"model": "cepo-fake-model", "messages": QUESTION, "reasoning_effort": "low"},
        timeout=30,
    )
    assert response.status_code == 502
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    lines = sse_lines(
        cepo,
        {
            "model": "cepo-fake-model",
            "messages": QUESTION,
            "reasoning_effort": "low",
            "stream": True,
        },
    )
    assert lines[-1] == "[DONE]" and '"error"' in lines[-2]
