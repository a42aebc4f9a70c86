"""Planning attempts: truncation and failures are replaced up to planning_m; fallbacks."""

from __future__ import annotations

from reasoning.config import CePOConfig
from reasoning.llm import LLMError
from tests.engine.helpers import blocks, collect, finished, request
from tests.engine.scripted_client import ScriptedCall, ScriptedClient, cut_off

ONE = CePOConfig(bestofn_n=1, planning_n=3, planning_m=6)


async def test_truncated_plan_is_replaced_once_per_rejection() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("plan", lambda call: cut_off() if call.ordinal in (1, 4) else "1. plan")
    events = await collect(client, request(ONE))
    assert client.count("plan") == 5  # 3 at once, then one replacement per rejection
    assert client.count("execute") == 3
    result = finished(events)
    rejected = result.metadata["attempts_rejected"]
    assert [(r["attempt"], r["stage"], r["reason"]) for r in rejected] == [
        (1, "plan", "truncated"),
        (4, "plan", "truncated"),
    ]
    assert any("truncated, attempt rejected" in b.title for b in blocks(events, "plan"))
    # Never more than planning_n attempts in flight at once.
    plan_calls = client.of("plan")
    for call in plan_calls:
        overlapping = [
            other
            for other in plan_calls
            if other.started <= call.started < (other.ended or 0.0) and other is not call
        ]
        assert len(overlapping) <= 2


async def test_truncated_execution_rejects_the_attempt() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("execute", lambda call: cut_off("Step 1") if call.ordinal == 2 else "Result: 42")
    result = finished(await collect(client, request(ONE)))
    assert client.count("plan") == 4
    assert client.count("execute") == 4
    (rejection,) = result.metadata["attempts_rejected"]
    assert rejection["stage"] == "execute"
    refine = client.of("refine")[0]
    assert refine.prompt.count("## Solution ") == 3


async def test_failed_calls_count_as_rejected_attempts() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("plan", lambda call: LLMError("boom", status=500) if call.ordinal == 1 else "1. p")
    result = finished(await collect(client, request(ONE)))
    (rejection,) = result.metadata["attempts_rejected"]
    assert rejection["reason"] == "failed"
    assert rejection["detail"] == "boom"
    assert client.count("plan") == 4


async def test_attempts_stop_at_planning_m_then_fallback_answers_directly() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("plan", lambda call: cut_off())
    events = await collect(client, request(ONE, answer_max_tokens=77, stop=["END"]))
    assert client.count("plan") == 6
    assert client.count("execute") == 0
    assert client.count("refine") == 0
    assert client.count("final") == 0
    (fallback,) = client.of("fallback")
    assert fallback.request.max_tokens == 77
    assert fallback.request.stop == ["END"]
    assert fallback.request.temperature == 0.0
    result = finished(events)
    assert result.answer == "Directly: Final answer: 42"
    assert result.metadata["fallback_candidates"] == [1]
    assert len(result.metadata["attempts_rejected"]) == 6
    assert any("no plan could be carried out" in b.title for b in blocks(events, "note"))


async def test_refine_failure_keeps_the_first_execution() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("execute", lambda call: f"Execution number {call.ordinal}. Result: 42")
    client.on("refine", lambda call: LLMError("refine broke", status=503))
    events = await collect(client, request(ONE))
    (final,) = client.of("final")
    assert "Execution number 1." in final.draft
    assert "Execution number 2." not in final.draft
    result = finished(events)
    assert result.metadata["refine_kept_first_execution"] == [1]
    assert any("keeping the first execution" in b.title for b in blocks(events, "note"))


async def test_truncated_refine_keeps_the_first_execution() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("execute", lambda call: f"Execution number {call.ordinal}. Result: 42")
    client.on("refine", lambda call: cut_off("Refined: hal"))
    events = await collect(client, request(ONE))
    (final,) = client.of("final")
    assert "Execution number 1." in final.draft
    assert "Refined: hal" not in final.draft
    assert any(b.title.endswith("not used") for b in blocks(events, "refine"))


async def test_refine_sees_every_successful_execution_and_final_sees_refined() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("execute", lambda call: f"Execution number {call.ordinal}.")
    client.on("refine", lambda call: "REFINED SOLUTION")
    await collect(client, request(ONE))
    (refine,) = client.of("refine")
    for number in (1, 2, 3):
        assert f"Execution number {number}." in refine.prompt
    (final,) = client.of("final")
    assert "REFINED SOLUTION" in final.draft
    assert "Execution number" not in final.draft


async def test_plan_diversity_seeds_each_candidate_with_one_approach() -> None:
    client = ScriptedClient(latency=0.005)
    client.on(
        "diversity",
        lambda call: (
            "**Approach 1:** ALPHA way\n\n**Approach 2:** BETA way\n\n**Approach 3:** GAMMA way"
        ),
    )
    config = CePOConfig(plan_diversity=True, diversity_temperature=0.9, diversity_max_tokens=333)
    events = await collect(client, request(config))
    (diversity,) = client.of("diversity")
    assert "3 fundamentally different approaches" in diversity.prompt
    assert (diversity.request.temperature, diversity.request.max_tokens) == (0.9, 333)
    plans = client.of("plan")
    assert min(call.started for call in plans) >= (diversity.ended or 0.0)
    seeds = [next(w for w in ("ALPHA", "BETA", "GAMMA") if w in call.prompt) for call in plans]
    assert sorted(seeds) == ["ALPHA"] * 3 + ["BETA"] * 3 + ["GAMMA"] * 3
    assert len(client.calls) == 28
    assert len(blocks(events, "diversity")) == 1


async def test_unreadable_approaches_leave_plans_unseeded() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("diversity", lambda call: "I would rather not.")
    events = await collect(client, request(CePOConfig(plan_diversity=True, bestofn_n=2)))
    assert all("Base the plan on this approach" not in c.prompt for c in client.of("plan"))
    assert any("none readable" in b.title for b in blocks(events, "note"))
    finished(events)


def _fails_for_candidate_two(call: ScriptedCall) -> str | LLMError:
    return LLMError("final failed", status=502) if call.ordinal == 2 else "Final answer: 42"


async def test_failed_candidate_is_dropped_and_the_rest_answer() -> None:
    client = ScriptedClient(latency=0.005)
    client.on("final", _fails_for_candidate_two)
    events = await collect(client, request())
    result = finished(events)
    assert len(result.metadata["candidates_dropped"]) == 1
    assert result.metadata["candidates_finished"] == 2
    assert client.count("rate") == 2
    assert result.answer == "Final answer: 42"
    assert any(b.title.endswith("dropped") for b in blocks(events, "note"))
