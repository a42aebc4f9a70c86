"""Tools on a ``cepo-`` model, through the real proxy with the OpenAI SDK as client.

CePO runs on the conversation; only the step that writes the answer is offered the tools,
so an agent that needs a tool call still gets one, streamed as ``tool_calls`` deltas.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream, Reply, filler_text
from tests.fake_upstream.recording import RecordedRequest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
QUESTION = [{"role": "user", "content": "What should I wear in Paris today?"}]
FINAL_HEADING = "# Step: final answer"
RATE_HEADING = "# Step: verify an answer"


def calls_tool(body: dict[str, Any]) -> str | Reply:
    """Call the tool whenever tools are offered; answer in text otherwise."""
    if body.get("tools"):
        return Reply("", finish_reason="tool_calls", tool_calls=[CALL])
    return filler_text(16)


def tool_answers(pattern: list[bool]) -> Callable[[dict[str, Any]], str | Reply]:
    """Offered the tools, the n-th answer step calls the tool when ``pattern[n]`` is true."""
    lock = threading.Lock()
    seen = [0]

    def respond(body: dict[str, Any]) -> str | Reply:
        if not body.get("tools"):
            return filler_text(16)
        with lock:
            number = seen[0]
            seen[0] += 1
        if pattern[number % len(pattern)]:
            return Reply("", finish_reason="tool_calls", tool_calls=[CALL])
        return "It is sunny, wear light clothes. Answer: light clothes"

    return respond


def stage_of(record: RecordedRequest) -> str:
    last = record.body["messages"][-1]["content"]
    return last.splitlines()[0] if isinstance(last, str) else ""


@pytest.fixture
def cepo(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream)


def test_non_streaming_tool_call_comes_from_the_final_step(
    cepo: str, upstream: FakeUpstream
) -> None:
    upstream.responder = calls_tool
    # the planned shape, whose judges rate each answer (medium chooses by agreement)
    planned = {"plan_step": True, "planning_n": 3, "planning_m": 6, "bestofn_rating_type": "binary"}
    raw = sdk(cepo).chat.completions.with_raw_response.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        extra_body={"cepo": planned},
    )
    assert raw.headers["X-Reasoning-Tools"] == "final-step"
    assert "X-Reasoning-Bypassed" not in raw.headers
    reply = raw.parse()
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    meta = (reply.model_extra or {})["cepo"]
    assert meta["upstream_calls"] == 27 == upstream.calls
    assert meta["tools"]["answer"] == "tool_calls"
    assert meta["tools"]["candidates_calling_tools"] == [1, 2, 3]
    with_tools = [r for r in upstream.chat_requests if "tools" in r.body]
    assert len(with_tools) == 3
    assert all(stage_of(r) == FINAL_HEADING for r in with_tools)
    assert all(
        "Tools are available to you" in r.body["messages"][-1]["content"] for r in with_tools
    )
    # the judges see each answer's tool call, not an empty answer
    ratings = [r for r in upstream.chat_requests if stage_of(r) == RATE_HEADING]
    assert len(ratings) == 3
    for rating in ratings:
        shown = "\n".join(str(m.get("content") or "") for m in rating.body["messages"])
        assert 'Tool call: get_weather({"city": "Paris"})' in shown
    assert all("tool_choice" not in r.body for r in upstream.chat_requests)
    assert all(
        any("get_weather(city)" in str(m.get("content")) for m in r.body["messages"])
        for r in upstream.chat_requests
    )
    trace = (choice.message.model_extra or {})["reasoning_content"]
    assert "Tools offered to the final step" in trace
    assert "Tool call: get_weather" in trace


@pytest.mark.parametrize("effort", ["low", "medium"])
def test_streamed_tool_call_arrives_as_tool_call_deltas(
    cepo: str, upstream: FakeUpstream, effort: str
) -> None:
    upstream.responder = calls_tool
    raw = sdk(cepo).chat.completions.with_raw_response.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="auto",
        reasoning_effort=effort,  # type: ignore[arg-type]
        stream=True,
    )
    assert raw.headers["X-Reasoning-Tools"] == "final-step"
    stream = raw.parse()
    names, arguments, finish = [], [], None
    reasoning_seen = False
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if (choice.delta.model_extra or {}).get("reasoning_content"):
            reasoning_seen = True
        for piece in choice.delta.tool_calls or []:
            assert piece.index == 0
            if piece.function and piece.function.name:
                names.append(piece.function.name)
                assert piece.id == "call_abc" and piece.type == "function"
            if piece.function and piece.function.arguments:
                arguments.append(piece.function.arguments)
        finish = choice.finish_reason or finish
    assert reasoning_seen
    assert names == ["get_weather"]
    assert json.loads("".join(arguments)) == {"city": "Paris"}
    assert finish == "tool_calls"
    finals = [r for r in upstream.chat_requests if "tools" in r.body]
    assert finals and all(r.body["tool_choice"] == "auto" for r in finals)
    assert all(stage_of(r) == FINAL_HEADING for r in finals)


def test_tool_results_in_the_history_are_context(cepo: str, upstream: FakeUpstream) -> None:
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18 C and sunny"},
    ]
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=history,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert reply.choices[0].finish_reason == "stop"
    assert "42" in (reply.choices[0].message.content or "")
    for record in upstream.chat_requests:
        messages = record.body["messages"]
        assert all(m["role"] in ("system", "user", "assistant") for m in messages)
        assert all("tool_calls" not in m for m in messages)
        asked = "\n".join(str(m["content"]) for m in messages if m["role"] == "user")
        assert "18 C and sunny" in asked  # the tool's result reaches every step
        assert "get_weather" in asked


@pytest.mark.parametrize(
    ("pattern", "answer"),
    [([True, True, False], "tool_calls"), ([True, False, False], "text")],
)
def test_candidates_disagreeing_on_a_tool_call_follow_the_majority(
    cepo: str, upstream: FakeUpstream, pattern: list[bool], answer: str
) -> None:
    upstream.responder = tool_answers(pattern)
    reply = sdk(cepo).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        # the pattern numbers answer steps in call order; a text final ("light clothes")
        # overturns the filler executions' 42, and its second final would take a number
        extra_body={"cepo": {"keep_execution_majority": False}},
    )
    meta = (reply.model_extra or {})["cepo"]
    assert meta["tools"]["answer"] == answer
    assert len(meta["tools"]["candidates_calling_tools"]) == pattern.count(True)
    choice = reply.choices[0]
    if answer == "tool_calls":
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        assert "called a tool" in meta["selection"]["rule"]
    else:
        assert choice.finish_reason == "stop" and not choice.message.tool_calls
        assert "light clothes" in (choice.message.content or "")
        assert "answered in text" in meta["selection"]["rule"]


def test_passthrough_policy_setting_keeps_the_old_behaviour(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream, tools_policy="passthrough")
    raw = sdk(base).chat.completions.with_raw_response.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert raw.headers["X-Reasoning-Bypassed"] == "tools"
    assert upstream.calls == 1
    # The per-request field wins over the setting.
    upstream.reset()
    reply = sdk(base).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        extra_body={"cepo": {"tools": "reason"}},
    )
    assert (reply.model_extra or {})["cepo"]["upstream_calls"] == 27 == upstream.calls


def test_unknown_tools_policy_is_a_400(cepo: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(cepo).chat.completions.create(
            model="cepo-fake-model",
            messages=QUESTION,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            extra_body={"cepo": {"tools": "maybe"}},
        )
    assert caught.value.body["param"] == "cepo.tools"  # type: ignore[index]


def test_earlier_tool_turns_become_assistant_text() -> None:
    from reasoning.tools import ToolOffer, tool_turns_as_text

    history = [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18 C"},
        {"role": "assistant", "content": "It is 18 C."},
        {"role": "user", "content": [{"type": "text", "text": "And what to wear?"}]},
    ]
    system, first, called, answered, question = tool_turns_as_text(
        history, ToolOffer(tools=(WEATHER,))
    )
    assert system == history[0] and first == history[1] and answered == history[4]
    assert called == {
        "role": "assistant",
        "content": 'Let me look.\nTool call: get_weather({"city": "Paris"})\n(call ids: call_abc)'
        "\n\nResult of get_weather (call call_abc):\n18 C",
    }
    assert question["content"][0] == {"type": "text", "text": "And what to wear?"}
    assert "get_weather(city): Current weather of a city" in question["content"][1]["text"]
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]
    assert tool_turns_as_text(plain, None) == plain[:1]  # as Conversation would keep it
