"""``direct_on_disagreement``: a candidate whose executions do not settle one answer
answers the client's conversation directly, as it stands, instead of refining them."""

from __future__ import annotations

from config.presets import load_preset
from reasoning.answers import answers_agree
from reasoning.config import CePOConfig
from reasoning.events import StatusUpdate
from tests.engine.helpers import answer, blocks, collect, finished, request
from tests.engine.scripted_client import DIRECT, ScriptedCall, ScriptedClient

ASKS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 40 + 2? End with a line 'Answer: <number>'."},
]
LOW = CePOConfig(bestofn_n=1, planning_n=2, planning_m=4, direct_on_disagreement=True)


def _executions(*replies: str) -> ScriptedClient:
    """A client whose n-th execution replies ``replies[n-1]``."""
    client = ScriptedClient(latency=0.001)
    client.on("execute", lambda call: replies[min(call.ordinal, len(replies)) - 1])
    return client


async def test_split_executions_send_the_clients_conversation_as_it_stands() -> None:
    client = _executions("40 + 2 = 41.\nAnswer: 41", "40 + 2 = 42.\nAnswer: 42")
    client.on(DIRECT, lambda call: "Answer: 42")
    events = await collect(client, request(LOW, messages=ASKS))
    result = finished(events)
    assert sorted(client.steps()) == sorted(["plan", "plan", "execute", "execute", DIRECT])
    (direct,) = client.of(DIRECT)
    assert direct.request.messages == ASKS  # no step prompt around the question
    assert direct.request.temperature == LOW.final_temperature
    assert result.answer == "Answer: 42"
    assert result.metadata["upstream_calls"] == 5
    split = result.metadata["direct_on_disagreement"]
    assert split == [{"candidate": 1, "execution_answers": ["41", "42"]}]
    assert result.metadata["selection"]["extracted_answers"][0]["answer"] == "42"
    assert [b.title for b in blocks(events, "note")] == ["Candidate 1: the executions disagree"]
    assert blocks(events, "fallback")[0].title.endswith("direct answer (the executions disagree)")
    assert any(
        "answering the question directly" in e.text for e in events if isinstance(e, StatusUpdate)
    )


async def test_agreeing_executions_are_refined_as_usual() -> None:
    client = _executions("So 42.\nAnswer: 42", "Also 42.\nAnswer: 42")
    client.on("final", lambda call: "Answer: 42")
    result = finished(await collect(client, request(LOW, messages=ASKS)))
    assert client.count(DIRECT) == 0
    assert client.count("refine") == 1 and client.count("final") == 1
    assert result.metadata["direct_on_disagreement"] == []
    assert result.metadata["upstream_calls"] == 6


async def test_an_execution_without_an_answer_where_one_is_wanted_does_not_agree() -> None:
    client = _executions("I could not finish.", "Answer: 42")
    result = finished(await collect(client, request(LOW, messages=ASKS)))
    assert client.count(DIRECT) == 1 and client.count("refine") == 0
    assert result.metadata["direct_on_disagreement"][0]["execution_answers"] == [None, "42"]


async def test_a_single_execution_has_nothing_to_disagree_with() -> None:
    client = _executions("Answer: 41")
    config = LOW.merged({"planning_n": 1, "planning_m": 1})
    result = finished(await collect(client, request(config, messages=ASKS)))
    assert client.count(DIRECT) == 0 and client.count("refine") == 1
    assert result.metadata["direct_on_disagreement"] == []


async def test_without_the_option_split_executions_are_refined() -> None:
    client = _executions("Answer: 41", "Answer: 42")
    config = LOW.merged({"direct_on_disagreement": False})
    result = finished(await collect(client, request(config, messages=ASKS)))
    assert client.count(DIRECT) == 0 and client.count("refine") == 1
    assert result.metadata["direct_on_disagreement"] == []


async def test_where_no_answer_is_wanted_there_is_nothing_to_disagree_on() -> None:
    haiku = [{"role": "user", "content": "Write a haiku about autumn."}]
    client = _executions("Red leaves drift and fall", "Cold wind, the maple lets go")
    finished(await collect(client, request(LOW, messages=haiku)))
    assert client.count(DIRECT) == 0 and client.count("refine") == 1


async def test_the_direct_answer_streams_live_when_the_question_asks_for_no_form() -> None:
    plain = [{"role": "user", "content": "What is 40 + 2?"}]
    client = _executions("Answer: 41", "Answer: 42")  # stated answers: one is wanted
    client.on(DIRECT, lambda call: "It is 42.\nAnswer: 42")
    events = await collect(client, request(LOW, messages=plain))
    assert [call.streamed for call in client.of(DIRECT)] == [True]
    assert answer(events) == finished(events).answer == "It is 42.\nAnswer: 42"


async def test_a_direct_reply_without_the_answer_is_retried_insisting_on_it() -> None:
    client = _executions("Answer: 41", "Answer: 42")
    client.on(DIRECT, lambda call: "Forty-two, I think.")

    def insisted(call: ScriptedCall) -> str:
        assert "What is 40 + 2?" in call.prompt and "Answer: <your answer>" in call.prompt
        return "Answer: 42"

    client.on("fallback", insisted)
    result = finished(await collect(client, request(LOW, messages=ASKS)))
    assert client.count(DIRECT) == 1 and client.count("fallback") == 1
    assert result.answer == "Answer: 42"
    assert result.metadata["answers_retried"] == [1]


async def test_several_candidates_each_decide_on_their_own_executions() -> None:
    client = ScriptedClient(latency=0.001)
    # candidate k's executions are attempts (k-1)*2+1 and +2 in start order: make the
    # first candidate's split and the rest agree, by the plan each execution quotes
    client.on(
        "plan",
        lambda call: "1. Guess 41." if call.ordinal == 1 else "1. Add 40 and 2.",
    )
    client.on(
        "execute",
        lambda call: "Answer: 41" if "Guess 41" in call.prompt else "Answer: 42",
    )
    client.on("final", lambda call: "Answer: 42")
    client.on(DIRECT, lambda call: "Answer: 42")
    config = CePOConfig(
        bestofn_n=2,
        planning_n=2,
        planning_m=2,
        bestofn_rating_type="binary",
        selection_rule="pool",
        direct_on_disagreement=True,
    )
    result = finished(await collect(client, request(config, messages=ASKS)))
    split = result.metadata["direct_on_disagreement"]
    assert len(split) == 1 and sorted(split[0]["execution_answers"]) == ["41", "42"]
    assert client.count(DIRECT) == 1 and client.count("refine") == 1
    assert result.answer == "Answer: 42"


def test_no_preset_answers_directly_on_disagreement() -> None:
    # the planned low of sessions 4-8 did (measured as the rig's arm `lowdirect`); the
    # plan-free low that replaced it votes over its samples instead: an option, not a preset
    for name in ("low", "medium", "planned", "high", "thinking"):
        assert load_preset(name).direct_on_disagreement is False


async def test_quiet_mode_says_so_once_whatever_the_candidates() -> None:
    client = ScriptedClient(latency=0.001)
    # every plan names its own number, and its execution answers it: all executions differ
    client.on("plan", lambda call: f"1. Say {call.ordinal}.")
    client.on("execute", lambda call: "Answer: " + call.prompt.split("1. Say ")[1].split(".")[0])
    config = LOW.merged({"bestofn_n": 3, "bestofn_rating_type": "binary"})
    events = await collect(client, request(config, messages=ASKS))
    said = [e.text for e in events if isinstance(e, StatusUpdate) and "directly" in e.text]
    assert client.count(DIRECT) == 3 and len(said) == 1


def test_answer_keys_agree_when_all_equal_and_none_missing() -> None:
    assert answers_agree(["42", "42"]) and answers_agree(["41"]) and answers_agree([])
    assert not answers_agree(["41", "42"]) and not answers_agree(["42", None])
