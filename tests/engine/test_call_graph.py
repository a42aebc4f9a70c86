"""Call graph of a default run: counts, critical path, per-step settings, forwarding."""

from __future__ import annotations

import json

from reasoning.config import CePOConfig
from reasoning.events import AnswerDelta, RunFinished, StatusUpdate, TraceBlock
from reasoning.llm import TokenUsage
from tests.engine.helpers import answer, blocks, collect, finished, request, statuses
from tests.engine.scripted_client import ScriptedClient

LATENCY = 0.1


def longest_chain(client: ScriptedClient) -> int:
    """The most calls that ran one after another (each started after the last ended)."""
    calls = sorted(client.calls, key=lambda call: call.started)
    depth: list[int] = []
    for index, call in enumerate(calls):
        before = [depth[i] for i in range(index) if (calls[i].ended or 0.0) <= call.started]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


async def test_default_run_makes_27_calls_on_a_5_call_critical_path() -> None:
    client = ScriptedClient(latency=LATENCY)
    events = await collect(client, request())

    counts = {step: client.count(step) for step in ("plan", "execute", "refine", "final", "rate")}
    assert counts == {"plan": 9, "execute": 9, "refine": 3, "final": 3, "rate": 3}
    assert len(client.calls) == 27
    assert all(call.outcome == "ok" for call in client.calls)
    start = min(call.started for call in client.calls)
    end = max(call.ended or 0.0 for call in client.calls)
    wall = end - start
    assert longest_chain(client) == 5
    assert 5 * LATENCY <= wall < 8 * LATENCY, wall  # a loaded machine adds overhead
    # Every call waits only for its own inputs: plans all start together, etc.
    assert max(c.started for c in client.of("plan")) - start < LATENCY / 2
    result = finished(events)
    assert result.answer == "The total is 42.\n\nFinal answer: 42"
    assert answer(events) == result.answer
    assert result.metadata["upstream_calls"] == 27
    assert result.metadata["chosen_candidate"] == 1
    assert result.metadata["deadline_hit"] is False
    assert len(result.metadata["ratings"]) == 3
    timings = result.metadata["stage_timings"]
    assert set(timings) == {"plan", "execute", "refine", "final", "rate"}
    assert all(LATENCY * 0.9 <= seconds < 4 * LATENCY for seconds in timings.values())
    assert json.loads(json.dumps(result.metadata)) == result.metadata
    assert result.metadata["config"] == CePOConfig().model_dump()


async def test_each_step_uses_its_own_temperature_and_max_tokens() -> None:
    config = CePOConfig(
        planning_temperature=0.9,
        execution_temperature=0.8,
        refine_temperature=0.7,
        final_temperature=0.6,
        rating_temperature=0.5,
        planning_max_tokens=101,
        execution_max_tokens=102,
        refine_max_tokens=103,
        final_max_tokens=104,
        rating_max_tokens=105,
    )
    client = ScriptedClient(latency=0.005)
    await collect(client, request(config))
    expected = {
        "plan": (0.9, 101),
        "execute": (0.8, 102),
        "refine": (0.7, 103),
        "final": (0.6, 104),
        "rate": (0.5, 105),
    }
    for call in client.calls:
        assert (call.request.temperature, call.request.max_tokens) == expected[call.step]


async def test_forwarded_fields_go_to_every_call_and_answer_settings_only_to_final() -> None:
    client = ScriptedClient(latency=0.005)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object", "required": ["total"]}},
    }
    await collect(
        client,
        request(
            forward={"seed": 7, "user": "alice"},
            answer_max_tokens=50,
            stop=["###"],
            response_format=response_format,
        ),
    )
    for call in client.calls:
        assert call.request.extra["seed"] == 7
        assert call.request.extra["user"] == "alice"
        if call.step == "final":
            assert call.request.max_tokens == 50
            assert call.request.stop == ["###"]
            assert call.request.extra["response_format"] == response_format
            assert '"required": [\n    "total"\n  ]' in call.prompt
        else:
            assert call.request.max_tokens == 4096
            assert call.request.stop is None
            assert "response_format" not in call.request.extra
            assert "JSON schema" not in call.prompt


async def test_answer_max_tokens_only_lowers_the_final_limit() -> None:
    client = ScriptedClient(latency=0.001)
    await collect(client, request(CePOConfig(final_max_tokens=300), answer_max_tokens=9000))
    assert {call.request.max_tokens for call in client.of("final")} == {300}


async def test_whole_conversation_is_context_and_latest_user_turn_is_the_question() -> None:
    messages = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "What is 40 + 2?"}]},
    ]
    client = ScriptedClient(latency=0.001)
    await collect(client, request(CePOConfig(bestofn_n=1, planning_n=1), messages=messages))
    for call in client.calls:
        assert list(call.request.messages[:3]) == messages[:3]
        assert len(call.request.messages) == 4
        assert "What is 40 + 2?" in call.prompt
        assert call.request.model == "m"


async def test_usage_sums_every_call_and_answer_usage_is_the_final_call() -> None:
    client = ScriptedClient(latency=0.001)
    result = finished(await collect(client, request()))
    assert result.usage == TokenUsage(27 * 10, 27 * 5)
    assert result.answer_usage == TokenUsage(10, 5)
    assert result.metadata["usage_estimated"] is False


async def test_estimated_flag_propagates_to_the_sum() -> None:
    client = ScriptedClient(latency=0.001, usage=TokenUsage(10, 5, estimated=True))
    result = finished(await collect(client, request()))
    assert result.usage.estimated
    assert result.metadata["usage_estimated"] is True


async def test_blocks_and_statuses_come_before_the_answer_and_are_labelled() -> None:
    client = ScriptedClient(latency=0.002)
    events = await collect(client, request())
    first_answer = next(i for i, e in enumerate(events) if isinstance(e, AnswerDelta))
    assert not any(isinstance(e, TraceBlock | StatusUpdate) for e in events[first_answer:])
    assert isinstance(events[-1], RunFinished)
    plan_blocks = blocks(events, "plan")
    assert len(plan_blocks) == 9
    assert {(b.candidate, b.attempt) for b in plan_blocks} == {
        (c, a) for c in (1, 2, 3) for a in (1, 2, 3)
    }
    assert all(b.text for b in blocks(events))
    assert [b.title.endswith(": correct") for b in blocks(events, "rate")] == [True] * 3
    lines = statuses(events)
    assert lines == [
        "Reasoning: 3 candidates, 3 plans each (up to 6 attempts)",
        "Planning",
        "Executing the plans",
        "Refining the solutions",
        "Writing the final answers",
        "Rating the answers",
        "Choosing among 3 answers",
    ]
    assert all("42" not in line for line in lines)  # no model text in status lines


async def test_model_thinking_is_shown_in_blocks_but_never_passed_between_steps() -> None:
    from reasoning.llm import LLMResponse

    client = ScriptedClient(latency=0.001)
    client.on("plan", lambda call: LLMResponse("1. add", "stop", reasoning="SECRET-THOUGHT"))
    events = await collect(client, request(CePOConfig(bestofn_n=1, planning_n=1)))
    (plan_block,) = blocks(events, "plan")
    assert "SECRET-THOUGHT" in plan_block.text
    assert "own thinking" in plan_block.text
    assert all("SECRET-THOUGHT" not in call.prompt for call in client.calls)
