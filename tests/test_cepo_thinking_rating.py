"""The rating model, the thinking preset and the upstream reasoning effort, through the real
proxy: the OpenAI SDK as client, the scripted upstream behind it (the GPU rig serves no
thinking model and one model only, so these parts are tested here alone)."""

from __future__ import annotations

from typing import Any

import openai

from config.presets import load_preset
from reasoning.prompts import HEADINGS
from tests.conftest import ProxyFactory, closed_after_test
from tests.fake_upstream import FakeUpstream, Reply

QUESTION = [{"role": "user", "content": "What is 6 times 7? End with a line 'Answer: <n>'."}]


def sdk(base: str) -> openai.OpenAI:
    return closed_after_test(
        openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=30)
    )


def _step(body: dict[str, Any]) -> str:
    last = str(body["messages"][-1]["content"])
    return next((name for name, heading in HEADINGS.items() if last.startswith(heading)), "?")


def test_rating_calls_go_to_the_rating_model(make_proxy: ProxyFactory) -> None:
    def respond(body: dict[str, Any]) -> str:
        if body["model"] == "judge-model":
            return "6 x 7 = 42\nMY RESULT: 42\nVERDICT: YES"
        return "6 times 7 is 42.\nAnswer: 42"

    with FakeUpstream(models=["fake-model", "judge-model"], responder=respond) as upstream:
        base = make_proxy(upstream)
        reply = sdk(base).chat.completions.create(
            model="cepo-fake-model",
            messages=QUESTION,  # type: ignore[arg-type]
            extra_body={"cepo": {"rating_model": "judge-model", "bestofn_rating_type": "binary"}},
        )
        bodies = [request.body for request in upstream.chat_requests if request.body]
    meta = (reply.model_extra or {})["cepo"]
    judged = [body for body in bodies if body["model"] == "judge-model"]
    assert len(judged) == 3 and {_step(body) for body in judged} == {"rate"}
    assert {body["model"] for body in bodies if _step(body) != "rate"} == {"fake-model"}
    assert [r["verdict"] for r in meta["ratings"]] == ["yes", "yes", "yes"]
    assert {r["judge_answer"] for r in meta["ratings"]} == {"42"}
    assert reply.choices[0].message.content == "6 times 7 is 42.\nAnswer: 42"


def test_thinking_preset_sends_its_budgets_temperatures_and_reasoning_effort(
    make_proxy: ProxyFactory,
) -> None:
    thinking = load_preset("thinking")

    def respond(body: dict[str, Any]) -> Reply:
        return Reply("So it is 42.\nAnswer: 42", reasoning="Six sevens... let me add them up.")

    with FakeUpstream(personality="vllm", responder=respond) as upstream:
        base = make_proxy(upstream, default_preset="thinking")
        reply = sdk(base).chat.completions.create(model="cepo-fake-model", messages=QUESTION)  # type: ignore[arg-type]
        bodies = [request.body for request in upstream.chat_requests if request.body]
    meta = (reply.model_extra or {})["cepo"]
    assert meta["preset"] == "thinking" and meta["upstream_calls"] == 27 == len(bodies)
    assert {body.get("reasoning_effort") for body in bodies} == {thinking.upstream_reasoning_effort}
    plans = [body for body in bodies if _step(body) == "plan"]
    assert {body["temperature"] for body in plans} == {thinking.planning_temperature}
    # the larger budget, clamped to what the 8192-token context leaves
    assert all(4096 < body["max_tokens"] <= thinking.planning_max_tokens for body in plans)
    # the model's own thinking stays out of the answer and out of what later steps see
    assert reply.choices[0].message.content == "So it is 42.\nAnswer: 42"
    finals = [body for body in bodies if _step(body) == "final"]
    assert finals and all("Six sevens" not in str(body["messages"]) for body in finals)
    assert meta["reasoning_effort_dropped"] is False


def test_a_refused_reasoning_effort_is_dropped_for_the_rest_of_the_run(
    make_proxy: ProxyFactory,
) -> None:
    def respond(body: dict[str, Any]) -> Reply:
        if "reasoning_effort" in body:
            return Reply("Unrecognized request argument supplied: reasoning_effort", status=400)
        return Reply("It is 42.\nAnswer: 42")

    with FakeUpstream(responder=respond) as upstream:
        base = make_proxy(upstream)
        reply = sdk(base).chat.completions.create(
            model="cepo-fake-model",
            messages=QUESTION,  # type: ignore[arg-type]
            reasoning_effort="low",
            extra_body={"cepo": {"upstream_reasoning_effort": "high"}},
        )
        bodies = [request.body for request in upstream.chat_requests if request.body]
    meta = (reply.model_extra or {})["cepo"]
    assert meta["preset"] == "low"  # the client's reasoning_effort still chose the preset
    assert meta["reasoning_effort_dropped"] is True
    refused = [body for body in bodies if "reasoning_effort" in body]
    assert refused and all(body["reasoning_effort"] == "high" for body in refused)
    # low's four plain samples (the question as sent, no step prompt) start together and are
    # refused; their repeats and every later call (refine, final) go without it
    assert len(refused) <= 4 and all(body["messages"] == QUESTION for body in refused)
    assert len(bodies) == len(refused) + 6
    later = [body for body in bodies if _step(body) != "?"]
    assert {_step(body) for body in later} == {"refine", "final"}
    assert all("reasoning_effort" not in body for body in later)
    assert meta["attempts_rejected"] == [] and meta["fallback_candidates"] == []
    assert reply.choices[0].message.content == "It is 42.\nAnswer: 42"
