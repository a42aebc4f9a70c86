"""``plan_step`` off: each attempt is one plain sample of the client's conversation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reasoning.config import CePOConfig
from tests.engine.helpers import QUESTION, blocks, collect, finished, request, statuses
from tests.engine.scripted_client import DIRECT, ScriptedClient, cut_off

PLAIN = CePOConfig(
    bestofn_n=2,
    planning_n=3,
    planning_m=5,
    plan_step=False,
    execution_temperature=0.7,
    execution_max_tokens=321,
    bestofn_rating_type="majority",
    selection_rule="pool",
)


async def test_attempts_sample_the_conversation_as_it_stands_with_no_plan() -> None:
    client = ScriptedClient(latency=0.005)
    client.on(DIRECT, lambda call: f"Sample {call.ordinal}. Answer: {40 + call.ordinal % 2}")
    client.on("refine", lambda call: "REFINED")
    client.on("final", lambda call: "Answer: 41")
    events = await collect(client, request(PLAIN))
    assert client.count("plan") == 0 and client.count("execute") == 0
    samples = client.of(DIRECT)
    assert len(samples) == 6  # planning_n per candidate, one call each
    for call in samples:
        assert call.request.messages == QUESTION  # the client's conversation, unchanged
        assert (call.request.temperature, call.request.max_tokens) == (0.7, 321)
    # every candidate's refine step compares its own three samples
    refines = client.of("refine")
    assert len(refines) == 2
    assert all(call.prompt.count("## Solution ") == 3 for call in refines)
    assert len(client.calls) == 6 + 2 + 2  # no rating calls under majority
    titles = [b.title for b in blocks(events, "execute")]
    assert "Candidate 1 · solution (attempt 3, no plan)" in titles and len(titles) == 6
    result = finished(events)
    assert result.metadata["upstream_calls"] == 10
    assert result.metadata["config"]["plan_step"] is False
    answers = result.metadata["selection"]["execution_answers"]
    assert len(answers) == 6 and {a["answer"] for a in answers} == {"40", "41"}


async def test_a_cut_off_sample_is_replaced_up_to_planning_m() -> None:
    client = ScriptedClient(latency=0.005)
    client.on(DIRECT, lambda call: cut_off() if call.ordinal <= 3 else "Answer: 42")
    config = PLAIN.merged({"bestofn_n": 1})
    result = finished(await collect(client, request(config)))
    # 3 at once, all cut off; one replacement each while under 5 attempts: 2 succeed
    assert client.count(DIRECT) == 5
    rejected = result.metadata["attempts_rejected"]
    assert [(r["stage"], r["reason"]) for r in rejected] == [("execute", "truncated")] * 3
    (refine,) = client.of("refine")
    assert refine.prompt.count("## Solution ") == 2


async def test_quiet_lines_say_solutions_not_plans() -> None:
    client = ScriptedClient(latency=0.002)
    lines = statuses(await collect(client, request(PLAIN)))
    assert lines[0] == "Reasoning: 2 candidates, 3 solutions (no plans) each (up to 5 attempts)"
    assert "Sampling solutions" in lines
    assert "Planning" not in lines


def test_plan_diversity_needs_plans() -> None:
    with pytest.raises(ValidationError, match="plan_diversity seeds the plans"):
        CePOConfig(plan_step=False, plan_diversity=True)
    assert CePOConfig().plan_step is True
