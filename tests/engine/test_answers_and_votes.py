"""Answers that are answers (checked, retried, left out) and selection that selects
(binary verification, pool votes, the rating model, the upstream reasoning effort)."""

from __future__ import annotations

from reasoning.answers import expects_answer, find_answer, normalise_answer, stated_answer
from reasoning.config import CePOConfig
from reasoning.llm import LLMError
from reasoning.selection import Finalist, choose
from tests.engine.helpers import answer, blocks, collect, finished, request
from tests.engine.scripted_client import Responder, ScriptedCall, ScriptedClient

ASKS = [{"role": "user", "content": "What is 40 + 2? End with a line 'Answer: <number>'."}]
MEDIUM = CePOConfig(bestofn_rating_type="binary", selection_rule="pool")


def _by_candidate(replies: dict[int, list[str]]) -> Responder:
    """A final-step responder: candidate k's n-th final call gets replies[k][n-1]."""
    seen: dict[int, int] = {}

    def reply(call: ScriptedCall) -> str:
        number = _candidate_of(call)
        seen[number] = seen.get(number, 0) + 1
        texts = replies[number]
        return texts[min(seen[number], len(texts)) - 1]

    return reply


def _candidate_of(call: ScriptedCall) -> int:
    # the draft (a refine reply, see _tagged) carries the tag
    return int(call.draft.split("candidate ", 1)[1].split(".", 1)[0])


def _tagged(client: ScriptedClient) -> None:
    """Refine replies carry a tag (1, 2, 3 in the order they are made), so a final
    responder can give each candidate its own reply."""
    counter = {"n": 0}

    def refine(call: ScriptedCall) -> str:
        counter["n"] += 1
        return f"Refined for candidate {counter['n']}. 40 + 2 = 42."

    client.on("refine", refine)


# -- pure answer functions ------------------------------------------------------------------


def test_equivalent_answers_have_one_key() -> None:
    same = ["1,000", "$1000.00", "1000 dollars", "**1000**", "\\boxed{1000}", "x = 1000"]
    assert {normalise_answer(text.replace("\\boxed{1000}", "1000")) for text in same} == {"1000"}
    assert normalise_answer("3/4") == normalise_answer("\\frac{3}{4}") == normalise_answer("0.75")
    assert normalise_answer("(B)") == normalise_answer("Option B") == normalise_answer("b.") == "b"
    assert normalise_answer(" The  Eiffel Tower. ") == "the eiffel tower"
    assert normalise_answer("50%") == "50"


def test_stated_forms_and_the_last_number_fallback() -> None:
    assert stated_answer("so \\boxed{7}") is not None
    assert stated_answer("Thank you for providing the worked solution: it gives 7.") is None
    found = find_answer("Thank you for providing the worked solution: it gives 7.")
    assert found is not None
    assert (found.key, found.form, found.stated) == ("7", "last_number", False)
    line = find_answer("work\nAnswer: 12 apples")
    assert line is not None and (line.key, line.form, line.stated) == ("12", "answer_line", True)


def test_a_copied_placeholder_is_no_answer() -> None:
    for text in ("Answer: <value>", "Answer: <your answer>", "\\boxed{<number>}", "Answer: [N]"):
        assert stated_answer(text) is None and find_answer(text) is None, text
    earlier = find_answer("\\boxed{5}\nAnswer: <value>")
    assert earlier is not None and (earlier.key, earlier.form) == ("5", "boxed")
    assert normalise_answer("<b>") == "<b>"  # a tag is an answer; a placeholder word is not


def test_an_answer_is_expected_when_asked_for_or_when_the_solution_reached_one() -> None:
    assert expects_answer("Solve it. End with 'Answer: <n>'.", None)
    assert expects_answer("Put the result in \\boxed{}.", None)
    assert expects_answer("How many?", "... so the answer is 4.")
    assert not expects_answer("Write me a haiku about spring.", "Petals drift ...")


def test_pool_rule_counts_every_answer_and_ratings_break_ties() -> None:
    finalists = [Finalist(1, "5"), Finalist(2, "6"), Finalist(3, "7")]
    chosen = choose(finalists, {1: 1.0}, rule="pool", pool=["6", "6", "7"])
    assert (chosen.candidate, chosen.decided_by, chosen.votes[2]) == (2, "votes", 3)
    tie = choose(finalists, {3: 1.0}, rule="pool", pool=["5", "7"])
    assert (tie.candidate, tie.decided_by) == (3, "score")
    majority = choose([*finalists, Finalist(4, "5")], {3: 1.0}, rule="majority")
    assert (majority.candidate, majority.decided_by) == (1, "agreement")


def test_failed_answers_are_left_out_unless_all_failed() -> None:
    finalists = [Finalist(1, "9", failed=True), Finalist(2, "4"), Finalist(3, "5")]
    chosen = choose(finalists, {1: 1.0, 3: 1.0}, rule="rating")
    assert chosen.candidate == 3 and chosen.eligible == (2, 3)
    all_failed = [Finalist(1, "9", failed=True), Finalist(2, None, failed=True)]
    assert choose(all_failed, {}, rule="rating").eligible == (1, 2)


# -- the engine -------------------------------------------------------------------------


async def test_a_reply_without_an_answer_is_retried_once_insisting_on_the_form() -> None:
    client = ScriptedClient(latency=0.001)
    client.on(
        "final",
        lambda call: "Thank you for the solution!" if call.ordinal == 1 else "Answer: 42",
    )
    events = await collect(client, request(CePOConfig(bestofn_n=1), messages=ASKS))
    result = finished(events)
    finals = client.of("final")
    assert len(finals) == 2
    assert answer(events) == "Answer: 42"  # checked first, then sent whole
    assert "Answer: <your answer>" in finals[1].prompt
    assert "Answer: <your answer>" not in finals[0].prompt
    assert result.answer == "Answer: 42"
    assert result.metadata["answers_retried"] == [1]
    assert result.metadata["answers_failed"] == []
    assert result.metadata["upstream_calls"] == 3 + 3 + 1 + 2  # plans, executions, refine, finals


async def test_a_final_that_copies_the_formats_placeholder_is_retried() -> None:
    client = ScriptedClient(latency=0.001)
    client.on("final", lambda call: "Answer: <number>" if call.ordinal == 1 else "Answer: 42")
    result = finished(await collect(client, request(CePOConfig(bestofn_n=1), messages=ASKS)))
    assert len(client.of("final")) == 2
    assert result.answer == "Answer: 42"
    assert result.metadata["answers_retried"] == [1] and result.metadata["answers_failed"] == []


async def test_a_candidate_with_no_answer_after_the_retry_is_left_out_and_not_rated() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    client.on(
        "final",
        _by_candidate(
            {
                1: ["I understand you want the answer.", "Sure."],
                2: ["Answer: 41"],
                3: ["Answer: 43"],
            }
        ),
    )
    client.on("rate", lambda call: "MY RESULT: 42\nVERDICT: NO")
    events = await collect(client, request(MEDIUM, messages=ASKS))
    result = finished(events)
    selection = result.metadata["selection"]
    (failed,) = result.metadata["answers_failed"]
    assert result.metadata["answers_retried"] == [failed]
    assert selection["eligible"] == sorted({1, 2, 3} - {failed})
    assert result.metadata["chosen_candidate"] != failed
    assert result.answer in ("Answer: 41", "Answer: 43")
    assert client.count("rate") == 2  # the failed candidate costs no rating
    entry = next(e for e in selection["extracted_answers"] if e["candidate"] == failed)
    assert entry["failed"] is True and entry["form"] is None
    assert any("still no answer stated" in b.title for b in blocks(events, "note"))


async def test_binary_verification_judges_the_answer_alone_and_records_its_own_result() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    client.on("final", _by_candidate({1: ["Answer: 41"], 2: ["Answer: 42"], 3: ["Answer: 43"]}))

    def judge(call: ScriptedCall) -> str:
        proposed = call.prompt.split("## The proposed answer", 1)[1]
        verdict = "YES" if "42" in proposed else "NO"
        return f"40 + 2 = 42.\nMY RESULT: 42\nVERDICT: {verdict}"

    client.on("rate", judge)
    config = CePOConfig(bestofn_rating_type="binary", selection_rule="rating")
    result = finished(await collect(client, request(config, messages=ASKS)))
    for call in client.of("rate"):
        assert "Refined for candidate" not in call.prompt  # no worked solution shown
        assert "MY RESULT" in call.prompt
    ratings = result.metadata["ratings"]
    assert sorted(r["verdict"] for r in ratings) == ["no", "no", "yes"]
    assert {r["judge_answer"] for r in ratings} == {"42"}
    assert result.answer == "Answer: 42"
    assert result.metadata["selection"]["decided_by"] == "score"


async def test_pool_vote_follows_the_executions_when_the_finals_disagree() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    client.on("execute", lambda call: "So the result is 43.\nAnswer: 43")
    client.on("final", _by_candidate({1: ["Answer: 41"], 2: ["Answer: 42"], 3: ["Answer: 43"]}))
    client.on("rate", lambda call: "MY RESULT: 41\nVERDICT: YES")
    result = finished(await collect(client, request(MEDIUM, messages=ASKS)))
    selection = result.metadata["selection"]
    assert result.answer == "Answer: 43"
    assert selection["decided_by"] == "votes"
    assert {e["answer"] for e in selection["execution_answers"]} == {"43"}
    assert len(selection["execution_answers"]) == 9
    votes = {v["candidate"]: v["votes"] for v in selection["votes"]}
    assert votes[3] == 10 and votes[1] == 1


async def test_the_answers_the_plans_state_are_recorded_but_cast_no_vote() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    # five of the nine plans solve the problem themselves (wrongly); the others only plan
    client.on(
        "plan",
        lambda call: "1. Add.\nAnswer: 41" if call.ordinal % 2 else "1. Add 40 and 2.\n2. Check.",
    )
    client.on("execute", lambda call: "40 + 2 = 42.\nAnswer: 42")
    client.on("final", lambda call: "Answer: 42")
    result = finished(await collect(client, request(MEDIUM, messages=ASKS)))
    selection = result.metadata["selection"]
    plans = sorted((p["candidate"], p["attempt"]) for p in selection["plan_answers"])
    assert plans == [(c, a) for c in (1, 2, 3) for a in (1, 2, 3)]
    stated = [p["answer"] for p in selection["plan_answers"]]
    assert stated.count("41") == 5 and stated.count(None) == 4  # "2." is no answer
    assert result.answer == "Answer: 42"
    assert {v["votes"] for v in selection["votes"]} == {3 + 9}  # finals and executions only


async def test_pool_judges_adds_the_judges_results_to_the_vote() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    client.on("final", _by_candidate({1: ["Answer: 41"], 2: ["Answer: 42"], 3: ["Answer: 43"]}))
    client.on("execute", lambda call: "no stated result here")
    client.on("rate", lambda call: "MY RESULT: 42\nVERDICT: NO")
    config = CePOConfig(bestofn_rating_type="binary", selection_rule="pool_judges")
    result = finished(await collect(client, request(config, messages=ASKS)))
    assert result.answer == "Answer: 42"
    assert result.metadata["selection"]["decided_by"] == "votes"


async def test_rating_calls_go_to_the_rating_model() -> None:
    client = ScriptedClient(latency=0.001)
    config = CePOConfig(bestofn_rating_type="binary", rating_model="judge-7b")
    await collect(client, request(config))
    assert {call.request.model for call in client.of("rate")} == {"judge-7b"}
    others = [call for call in client.calls if call.step != "rate"]
    assert {call.request.model for call in others} == {"m"}


async def test_upstream_reasoning_effort_is_sent_and_dropped_when_refused() -> None:
    client = ScriptedClient(latency=0.001)
    config = CePOConfig(bestofn_n=1, planning_n=2, upstream_reasoning_effort="high")
    accepted = finished(await collect(client, request(config)))
    assert all(call.request.extra.get("reasoning_effort") == "high" for call in client.calls)
    assert accepted.metadata["reasoning_effort_dropped"] is False

    refusing = ScriptedClient(latency=0.001)

    def plan(call: ScriptedCall) -> object:
        if "reasoning_effort" in call.request.extra:
            return LLMError(
                "Unrecognized request argument: reasoning_effort",
                status=400,
                param="reasoning_effort",
            )
        return "1. Add. Confidence: high"

    refusing.on("plan", plan)
    result = finished(await collect(refusing, request(config)))
    sent = [call for call in refusing.calls if "reasoning_effort" in call.request.extra]
    assert sent and all(call.step == "plan" for call in sent)
    later = [call for call in refusing.calls if call.step != "plan"]
    assert later and all("reasoning_effort" not in call.request.extra for call in later)
    assert result.metadata["reasoning_effort_dropped"] is True
    assert any("refused reasoning_effort" in note for note in result.metadata["notes"])
    assert result.metadata["attempts_rejected"] == []  # the refused calls were repeated


async def test_other_errors_are_not_mistaken_for_a_refused_effort() -> None:
    client = ScriptedClient(latency=0.001)
    client.on("plan", lambda call: LLMError("overloaded", status=503))
    config = CePOConfig(bestofn_n=1, planning_n=1, planning_m=1, upstream_reasoning_effort="low")
    result = finished(await collect(client, request(config)))
    assert result.metadata["reasoning_effort_dropped"] is False
    assert result.metadata["fallback_candidates"] == [1]


async def test_a_single_candidate_streams_live_only_when_no_answer_form_is_expected() -> None:
    free = ScriptedClient(latency=0.001)
    await collect(free, request(CePOConfig(bestofn_n=1)))
    assert [call.streamed for call in free.of("final")] == [True]
    checked = ScriptedClient(latency=0.001)
    events = await collect(checked, request(CePOConfig(bestofn_n=1), messages=ASKS))
    assert [call.streamed for call in checked.of("final")] == [False]
    assert answer(events) == finished(events).answer != ""


async def test_blind_verification_never_shows_the_answer_and_compares_results() -> None:
    client = ScriptedClient(latency=0.001)
    _tagged(client)
    client.on("final", _by_candidate({1: ["Answer: 41"], 2: ["Answer: 42"], 3: ["Answer: 43"]}))
    client.on("rate", lambda call: "40 + 2 = 42, so:\nMY RESULT: **42**")
    config = CePOConfig(bestofn_rating_type="blind", selection_rule="rating")
    result = finished(await collect(client, request(config, messages=ASKS)))
    for call in client.of("rate"):
        assert "proposed answer" not in call.prompt and "Refined" not in call.prompt
        assert "What is 40 + 2?" in call.prompt
    ratings = result.metadata["ratings"]
    assert {r["type"] for r in ratings} == {"blind"}
    assert sorted(r["verdict"] for r in ratings) == ["no", "no", "yes"]
    assert result.answer == "Answer: 42"


async def test_an_empty_reply_is_retried_and_never_becomes_an_empty_answer() -> None:
    client = ScriptedClient(latency=0.001)
    client.on("refine", lambda call: "Refined: 40 + 2 = 42.")
    client.on("final", lambda call: "" if call.ordinal == 1 else "It is 42.")
    retried = finished(await collect(client, request(CePOConfig(bestofn_n=1))))
    assert retried.answer == "It is 42." and retried.metadata["answers_retried"] == [1]
    assert retried.metadata["answers_failed"] == []

    silent = ScriptedClient(latency=0.001)
    silent.on("refine", lambda call: "Refined: 40 + 2 = 42.")
    silent.on("final", lambda call: "")
    events = await collect(silent, request(CePOConfig(bestofn_n=1)))
    result = finished(events)
    assert silent.count("final") == 2
    assert answer(events) == result.answer == "Refined: 40 + 2 = 42."  # streamed live too
    assert result.metadata["answers_failed"] == [1]


async def test_a_live_answer_is_not_taken_back_but_marked_when_it_states_none() -> None:
    client = ScriptedClient(latency=0.001)
    client.on("refine", lambda call: "40 + 2 = 42.\nAnswer: 42")  # the solution states one
    client.on("final", lambda call: "Forty-two, I think.")
    events = await collect(client, request(CePOConfig(bestofn_n=1)))
    result = finished(events)
    assert [call.streamed for call in client.of("final")] == [True]  # no retry
    assert answer(events) == result.answer == "Forty-two, I think."
    assert result.metadata["answers_failed"] == [1] and result.metadata["answers_retried"] == []
