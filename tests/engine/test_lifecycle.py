"""Deadlines, cancellation by the caller, and live streaming of a single candidate."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from reasoning.config import CePOConfig
from reasoning.engine import CePOEngine
from reasoning.errors import DeadlineExceeded
from reasoning.events import AnswerDelta, RunFinished, TraceBlock
from reasoning.llm import LLMResponse, TokenUsage
from tests.engine.helpers import answer, blocks, collect, finished, request
from tests.engine.scripted_client import HANG, ScriptedClient

# -- deadline -------------------------------------------------------------------------------


async def test_deadline_during_rating_chooses_by_majority_without_more_calls() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("final", lambda call: "Final answer: 7" if call.ordinal == 2 else "Final answer: 8")
    client.on("rate", lambda call: HANG)
    events = await collect(client, request(deadline=time.monotonic() + 0.4))
    result = finished(events)
    assert result.metadata["deadline_hit"] is True
    assert result.answer == "Final answer: 8"
    assert result.metadata["calls_cancelled"] == 3
    assert [call.outcome for call in client.of("rate")] == ["cancelled"] * 3
    assert all(call.outcome != "running" for call in client.calls)
    assert len(client.calls) == 27
    assert any(b.title == "Deadline reached" for b in blocks(events, "note"))


async def test_deadline_answers_from_finished_candidates_only() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("final", lambda call: HANG if call.ordinal == 1 else "Final answer: 3")
    result = finished(
        await collect(
            client,
            request(CePOConfig(bestofn_rating_type="majority"), deadline=time.monotonic() + 0.3),
        )
    )
    assert result.metadata["deadline_hit"] is True
    assert result.metadata["candidates_finished"] == 2
    extracted = result.metadata["selection"]["extracted_answers"]
    assert [e["answer"] for e in extracted] == ["3", "3"]
    assert result.answer == "Final answer: 3"
    assert [call.outcome for call in client.of("final")].count("cancelled") == 1


async def test_deadline_with_no_finished_candidate_raises() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("execute", lambda call: HANG)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        await collect(client, request(deadline=time.monotonic() + 0.15))
    assert time.monotonic() - started < 1.0
    assert caught.value.status == 504
    assert [call.outcome for call in client.of("execute")] == ["cancelled"] * 9
    assert client.count("refine") == 0


async def test_past_deadline_raises_at_once() -> None:
    client = ScriptedClient(latency=0.01)
    with pytest.raises(DeadlineExceeded):
        await collect(client, request(deadline=time.monotonic() - 1))
    assert all(call.outcome == "cancelled" for call in client.calls)


async def test_deadline_during_a_live_answer_raises_after_the_partial_answer() -> None:
    client = ScriptedClient(latency=0.04, stream_pieces=150)  # 150 pieces, 4 ms apart
    client.on("final", lambda call: "forty-two " * 60)
    stream = CePOEngine(client).run(
        request(CePOConfig(bestofn_n=1, planning_n=1), deadline=time.monotonic() + 0.5)
    )
    events = []
    with pytest.raises(DeadlineExceeded):
        async with asyncio.timeout(5), contextlib.aclosing(stream):
            async for event in stream:
                events.append(event)
    assert any(isinstance(event, AnswerDelta) for event in events)
    assert [call.outcome for call in client.of("final")] == ["cancelled"]


# -- cancellation -----------------------------------------------------------------------------


async def test_aclose_mid_run_cancels_every_in_flight_call_and_leaves_no_task() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("execute", lambda call: "Result: 1" if call.ordinal <= 2 else HANG)
    tasks_before = asyncio.all_tasks()
    stream = CePOEngine(client).run(request())
    async with asyncio.timeout(5):
        async for event in stream:
            if isinstance(event, TraceBlock) and event.stage == "execute":
                break
        await client.wait_until(lambda: client.count("execute") == 9)
    await stream.aclose()
    running = [call for call in client.calls if call.outcome == "running"]
    assert running == []
    assert sum(call.outcome == "cancelled" for call in client.calls) >= 7
    assert asyncio.all_tasks() == tasks_before


async def test_cancelling_the_consumer_cancels_every_call() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("plan", lambda call: HANG)
    tasks_before = asyncio.all_tasks()

    async def consume() -> None:
        async with contextlib.aclosing(CePOEngine(client).run(request())) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await client.wait_until(lambda: client.count("plan") == 9)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [call.outcome for call in client.calls] == ["cancelled"] * 9
    assert asyncio.all_tasks() == tasks_before


# -- single candidate: the answer streams live ---------------------------------------------------


async def test_single_candidate_streams_the_final_step_live() -> None:
    client = ScriptedClient(latency=0.01, stream_pieces=4)
    client.on(
        "final",
        lambda call: LLMResponse(
            "The answer is 42, clearly.", "stop", reasoning="hmm, 40+2", usage=TokenUsage(20, 8)
        ),
    )
    stream = CePOEngine(client).run(request(CePOConfig(bestofn_n=1), answer_max_tokens=64))
    events = []
    first_delta_at: float | None = None
    async with asyncio.timeout(5), contextlib.aclosing(stream):
        async for event in stream:
            events.append(event)
            if isinstance(event, AnswerDelta) and first_delta_at is None:
                first_delta_at = asyncio.get_running_loop().time()
    (final,) = client.of("final")
    assert final.streamed
    assert final.request.max_tokens == 64
    assert first_delta_at is not None and final.ended is not None
    assert first_delta_at < final.ended  # shown while the upstream was still producing it
    deltas = [e for e in events if isinstance(e, AnswerDelta)]
    assert len(deltas) == 4
    assert answer(events) == "The answer is 42, clearly."
    first = events.index(deltas[0])
    thinking = [b for b in blocks(events, "final") if "hmm, 40+2" in b.text]
    assert len(thinking) == 1 and events.index(thinking[0]) < first
    assert blocks(events, "select") == []
    assert client.count("rate") == 0
    assert len(client.calls) == 3 + 3 + 1 + 1
    result = finished(events)
    assert isinstance(events[-1], RunFinished)
    assert result.answer_usage == TokenUsage(20, 8)
    assert result.usage == TokenUsage(7 * 10 + 20, 7 * 5 + 8)
    assert all(not c.streamed for c in client.calls if c.step != "final")


async def test_single_candidate_fallback_streams_too() -> None:
    from tests.engine.scripted_client import cut_off

    client = ScriptedClient(latency=0.005)
    client.on("plan", lambda call: cut_off())
    events = await collect(client, request(CePOConfig(bestofn_n=1, planning_n=1, planning_m=2)))
    (fallback,) = client.of("fallback")
    assert fallback.streamed
    assert answer(events) == finished(events).answer == "Directly: Final answer: 42"
