"""Choosing among candidates: absolute, pairwise and majority rating, ties, bad ratings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reasoning.config import CePOConfig
from reasoning.llm import LLMError
from tests.engine.helpers import blocks, collect, finished, request
from tests.engine.scripted_client import ScriptedCall, ScriptedClient, Slow


def finals(*answers: str) -> Callable[[ScriptedCall], str]:
    """A final-step responder giving the k-th final call ``Final answer: answers[k]``."""

    def reply(call: ScriptedCall) -> str:
        return f"Worked it out.\nFinal answer: {answers[call.ordinal - 1]}"

    return reply


def proposed(call: ScriptedCall) -> str:
    return call.prompt.split("## The proposed answer", 1)[1]


def shown(call: ScriptedCall) -> tuple[str, str]:
    match = re.search(r"## Answer A\n\n(.*)## Answer B\n\n(.*)", call.prompt, re.DOTALL)
    assert match is not None
    return match.group(1), match.group(2)


def answer_of(result_metadata: dict[str, Any], candidate: int) -> str | None:
    extracted = result_metadata["selection"]["extracted_answers"]
    found: str | None = next(e["answer"] for e in extracted if e["candidate"] == candidate)
    return found


async def test_absolute_rating_picks_the_answer_rated_correct() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("41", "42", "43"))
    client.on(
        "rate",
        lambda call: "VERDICT: CORRECT" if "42" in proposed(call) else "**VERDICT:** INCORRECT",
    )
    events = await collect(client, request())
    result = finished(events)
    assert result.answer.endswith("Final answer: 42")
    assert result.metadata["selection"]["decided_by"] == "score"
    ratings = result.metadata["ratings"]
    assert sorted(r["verdict"] for r in ratings) == ["correct", "incorrect", "incorrect"]
    assert all(r["parsed"] for r in ratings)
    assert sorted(b.title.rsplit(": ", 1)[1] for b in blocks(events, "rate")) == [
        "correct",
        "incorrect",
        "incorrect",
    ]


async def test_unparseable_ratings_are_no_votes_and_ties_go_to_agreement() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("41", "42", "42"))
    client.on("rate", lambda call: "I am not sure at all.")
    result = finished(await collect(client, request()))
    assert result.answer.endswith("42")
    selection = result.metadata["selection"]
    assert selection["decided_by"] == "agreement"
    assert all(r["parsed"] is False and r["verdict"] is None for r in result.metadata["ratings"])
    chosen = result.metadata["chosen_candidate"]
    twins = [c for c in (1, 2, 3) if answer_of(result.metadata, c) == "42"]
    assert chosen == min(twins)


async def test_full_tie_goes_to_the_first_candidate() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("1", "2", "3"))
    result = finished(await collect(client, request()))
    assert result.metadata["chosen_candidate"] == 1
    assert result.metadata["selection"]["decided_by"] == "order"


async def test_failed_rating_is_no_vote_not_a_crash() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("5", "6", "7"))
    client.on(
        "rate",
        lambda call: LLMError("rater down") if "5" in proposed(call) else "VERDICT: INCORRECT",
    )
    result = finished(await collect(client, request()))
    failed = [r for r in result.metadata["ratings"] if "error" in r]
    assert len(failed) == 1 and failed[0]["parsed"] is False
    assert result.metadata["chosen_candidate"] == 1


async def test_absolute_rating_starts_as_soon_as_its_candidate_is_final() -> None:
    client = ScriptedClient(latency=0.01)
    client.on("final", lambda call: Slow(0.2, "Final answer: 1") if call.ordinal == 3 else "2")
    await collect(client, request())
    slow_final_end = max(call.ended or 0.0 for call in client.of("final"))
    early_ratings = [call for call in client.of("rate") if call.started < slow_final_end - 0.1]
    assert len(early_ratings) == 2


async def test_pairwise_compares_both_orders_of_each_pair() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("41", "42", "43"))

    def prefer_43(call: ScriptedCall) -> str:
        first, second = shown(call)
        if "43" in first:
            return "BETTER: A"
        if "43" in second:
            return "BETTER: B"
        return "cannot decide"

    client.on("compare", prefer_43)
    events = await collect(client, request(CePOConfig(bestofn_rating_type="pairwise")))
    result = finished(events)
    assert client.count("compare") == 6
    assert client.count("rate") == 0
    pairs = {
        (re.sub(r"\D", "", a.split("answer:")[1]), re.sub(r"\D", "", b.split("answer:")[1]))
        for a, b in map(shown, client.of("compare"))
    }
    assert pairs == {(a, b) for a in ("41", "42", "43") for b in ("41", "42", "43") if a != b}
    assert result.answer.endswith("43")
    scores = {s["candidate"]: s["score"] for s in result.metadata["selection"]["scores"]}
    assert sorted(scores.values()) == [0.0, 0.0, 4.0]
    ratings = result.metadata["ratings"]
    assert sum(r["parsed"] for r in ratings) == 4
    assert len(ratings) == 6
    assert len(client.calls) == 9 + 9 + 3 + 3 + 6


async def test_pairwise_unreadable_comparisons_fall_back_to_agreement() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("8", "9", "9"))
    client.on("compare", lambda call: "They are both lovely.")
    result = finished(await collect(client, request(CePOConfig(bestofn_rating_type="pairwise"))))
    assert result.answer.endswith("9")
    assert result.metadata["selection"]["decided_by"] == "agreement"


async def test_majority_votes_on_extracted_answers_without_rating_calls() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("\\boxed{9}", "7", "9.0"))
    events = await collect(client, request(CePOConfig(bestofn_rating_type="majority")))
    result = finished(events)
    assert client.count("rate") == client.count("compare") == 0
    assert len(client.calls) == 24
    assert answer_of(result.metadata, result.metadata["chosen_candidate"]) == "9"
    assert result.metadata["selection"]["decided_by"] == "score"
    (select,) = blocks(events, "select")
    assert "Chosen: candidate" in select.text


async def test_majority_tie_goes_to_candidate_order() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", finals("1", "2", "3"))
    result = finished(await collect(client, request(CePOConfig(bestofn_rating_type="majority"))))
    assert result.metadata["chosen_candidate"] == 1
    assert result.metadata["selection"]["decided_by"] == "order"
