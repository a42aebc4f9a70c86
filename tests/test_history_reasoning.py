"""Old reasoning sent back in the history never reaches CePO's calls; pass-through keeps it.

Checked on the scripted upstream's recorded requests. The Cerebras personality refuses
``reasoning_content`` on history turns (as Cerebras Cloud does), so a leak would fail there too.
"""

from __future__ import annotations

import pytest

from reasoning.history import without_old_reasoning
from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream

HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2 plus 2?"},
    {
        "role": "assistant",
        "content": "<think>\nOLD-TRACE-think block\n</think>\n\nThe answer is 4.",
        "reasoning_content": "OLD-TRACE-reasoning_content",
    },
    {"role": "user", "content": "And 3 plus 3?"},
    {
        "role": "assistant",
        "content": [{"type": "text", "text": "<think>OLD-TRACE-part</think>It is 6."}],
        "reasoning": "OLD-TRACE-reasoning",
    },
    {"role": "user", "content": "Now 6 times 7?"},
]


def test_assistant_turns_lose_their_reasoning_and_nothing_else() -> None:
    cleaned = without_old_reasoning(HISTORY)
    assert cleaned[0] is HISTORY[0] and cleaned[1] is HISTORY[1]
    assert cleaned[2] == {"role": "assistant", "content": "The answer is 4."}
    assert cleaned[4] == {"role": "assistant", "content": [{"type": "text", "text": "It is 6."}]}
    assert HISTORY[2]["reasoning_content"] == "OLD-TRACE-reasoning_content"  # input untouched
    plain = [{"role": "assistant", "content": "no thinking here"}]
    assert without_old_reasoning(plain)[0] is plain[0]


@pytest.mark.parametrize("stream", [False, True])
def test_cepo_calls_carry_no_old_reasoning(make_proxy: ProxyFactory, stream: bool) -> None:
    with FakeUpstream(personality="cerebras") as fake:
        base = make_proxy(fake)
        result = sdk(base).chat.completions.create(
            model="cepo-fake-model",
            messages=HISTORY,  # type: ignore[arg-type]
            reasoning_effort="low",
            stream=stream,
        )
        if stream:
            list(result)  # type: ignore[call-overload]
        records = fake.chat_requests
        assert len(records) == 6 and all(r.status == 200 for r in records)
        for record in records:
            sent = str(record.body["messages"])
            assert "OLD-TRACE" not in sent and "<think>" not in sent
            assert "The answer is 4." in sent and "It is 6." in sent


def test_pass_through_history_is_unchanged(proxy: str, upstream: FakeUpstream) -> None:
    sdk(proxy).chat.completions.create(model="fake-model", messages=HISTORY)  # type: ignore[arg-type]
    (record,) = upstream.chat_requests
    assert record.body["messages"] == HISTORY
