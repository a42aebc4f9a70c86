"""``POST /v1/responses`` end to end: the official SDK against the proxy under uvicorn, the
scripted upstream behind it (serving ``/v1/responses`` itself or not)."""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream, Fault
from tests.openai_wire import assert_envelope, sse_events
from tests.proxies import proxy_in_thread

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
QUESTION = "What is 6 times 7?"


def raw_events(base: str, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """The stream's events as JSON, each checked against the SDK's event types, and each
    ``event:`` name checked against its data's type."""
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{base}/v1/responses", json={**body, "stream": True})
    assert response.status_code == 200, response.text
    events = []
    for sse in sse_events(response.content):
        event = json.loads(sse.data)
        assert sse.event == event["type"]
        EVENT.validate_python(event)
        events.append(event)
    return response, events


def upstream_prompts(upstream: FakeUpstream) -> list[str]:
    return [json.dumps(r.body["messages"]) for r in upstream.chat_requests]


# -- cepo- models -----------------------------------------------------------------------------
def test_create_runs_cepo_and_answers_a_response(proxy: str, upstream: FakeUpstream) -> None:
    with httpx.Client(timeout=30) as http:
        raw = http.post(
            f"{proxy}/v1/responses",
            json={"model": "cepo-fake-model", "input": QUESTION, "reasoning": {"effort": "low"}},
        )
    assert raw.status_code == 200, raw.text
    response = Response.model_validate(raw.json())  # strictly, as the SDK's types say
    assert response.model == "cepo-fake-model" and response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert "42" in response.output_text
    trace = response.output[0].summary[0].text  # type: ignore[union-attr]
    assert "plan" in trace.lower()
    cepo = (response.model_extra or {})["cepo"]
    assert cepo["upstream_calls"] == upstream.calls > 1
    assert response.usage is not None
    reasoning = response.usage.output_tokens_details.reasoning_tokens
    assert 0 < reasoning < response.usage.output_tokens
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert not any(r.path == "/v1/responses" for r in upstream.requests)  # CePO never relays


def test_reasoning_effort_maps_to_the_presets_as_for_chat(
    proxy: str, upstream: FakeUpstream
) -> None:
    client = sdk(proxy)
    for effort in ("low", "high"):
        upstream.reset()
        client.chat.completions.create(
            model="cepo-fake-model",
            messages=[{"role": "user", "content": QUESTION}],
            reasoning_effort=effort,
        )
        chat_calls = upstream.calls
        upstream.reset()
        client.responses.create(
            model="cepo-fake-model", input=QUESTION, reasoning={"effort": effort}
        )
        assert upstream.calls == chat_calls
    upstream.reset()
    raw = client.responses.with_raw_response.create(
        model="cepo-fake-model", input=QUESTION, reasoning={"effort": "minimal"}
    )
    assert raw.headers["x-reasoning-bypassed"] == "reasoning_effort"
    bypassed = raw.parse()
    assert upstream.calls == 1 and [o.type for o in bypassed.output] == ["message"]


def test_stream_true_sends_openai_events_in_order(proxy: str, upstream: FakeUpstream) -> None:
    client = sdk(proxy)
    stream = client.responses.create(
        model="cepo-fake-model", input=QUESTION, reasoning={"effort": "low"}, stream=True
    )
    events = list(stream)
    types = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]
    first_text = types.index("response.output_text.delta")
    assert "response.reasoning_summary_text.delta" in types[:first_text]
    assert types[first_text - 2 : first_text] == [
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output[0].summary[0].text == summary
    assert final.output_text == answer and "42" in answer
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0


def test_raw_stream_matches_the_sdk_types_strictly(proxy: str) -> None:
    response, events = raw_events(
        proxy, {"model": "cepo-fake-model", "input": QUESTION, "reasoning": {"effort": "low"}}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in response.text  # Responses streams end with their last event
    Response.model_validate(events[-1]["response"])
    assert events[-1]["type"] == "response.completed"


def test_stream_helper_accumulates_the_final_response(proxy: str) -> None:
    client = sdk(proxy)
    with client.responses.stream(
        model="cepo-fake-model",
        input=[{"role": "user", "content": QUESTION}],
        reasoning={"effort": "low", "summary": "auto"},
        extra_headers={"X-Reasoning-Mode": "quiet"},
    ) as stream:
        summary = [e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"]
        final = stream.get_final_response()
    assert summary and "42" in final.output_text
    assert final.output[0].type == "reasoning"
    assert final.output[0].summary[0].text == "".join(summary)
    assert "###" not in "".join(summary)  # quiet: status lines, not the verbose trace


def test_second_turn_from_sdk_output_drops_old_reasoning(
    proxy: str, upstream: FakeUpstream
) -> None:
    counter = itertools.count()
    upstream.responder = lambda body: f"note-{next(counter)}-x so Answer: 42"
    client = sdk(proxy)
    first = client.responses.create(
        model="cepo-fake-model", input=QUESTION, reasoning={"effort": "low"}
    )
    trace = first.output[0].summary[0].text  # type: ignore[union-attr]
    trace_only = set(re.findall(r"note-\d+-x", trace)) - set(
        re.findall(r"note-\d+-x", first.output_text)
    )
    assert trace_only
    upstream.reset()
    history: list[Any] = [{"role": "user", "content": QUESTION}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"role": "user", "content": "And 6 times 8?"})
    second = client.responses.create(
        model="cepo-fake-model", input=history, reasoning={"effort": "low"}
    )
    assert "42" in second.output_text
    prompts = upstream_prompts(upstream)
    assert prompts and all("And 6 times 8?" in prompt for prompt in prompts)
    assert not any(marker in prompt for marker in trace_only for prompt in prompts)


def test_failure_mid_run_streams_error_then_response_failed(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream)
    upstream.fault_for = lambda body: Fault.status(400, message="bad thing upstream")
    with sdk(base).responses.stream(
        model="cepo-fake-model", input=QUESTION, reasoning={"effort": "low"}
    ) as stream:
        events = list(stream)
    assert events[0].type == "response.created"
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert "bad thing upstream" in events[-2].message  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(base).responses.create(model="cepo-fake-model", input=QUESTION)
    assert "bad thing upstream" in str(caught.value)


def test_client_leaving_mid_stream_cancels_the_run(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    upstream.tokens_per_second = 5.0  # each call stays open for seconds
    base = make_proxy(upstream)
    with httpx.Client(timeout=30) as http:
        body = {"model": "cepo-fake-model", "input": QUESTION, "stream": True}
        with http.stream("POST", f"{base}/v1/responses", json=body) as response:
            # Read on until an upstream call has just opened (at 5 tokens/s it has seconds
            # to run, so the proxy notices the client leaving while it is still open, even
            # on a loaded machine), then leave: leaving the loop closes the response.
            for line in response.iter_lines():
                if line.startswith("event: response.reasoning_summary_text") and any(
                    r.outcome == "open" and time.monotonic() - r.started < 0.5
                    for r in upstream.chat_requests
                ):
                    break
            else:
                pytest.fail("the stream ended before the client left")
    assert upstream.wait_until_idle(5.0)
    assert upstream.disconnected_calls > 0
    assert upstream.calls < 27  # the run stopped before its 27 calls


def test_client_leaving_a_non_streamed_response_cancels_the_run(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    upstream.tokens_per_second = 20.0
    base = make_proxy(upstream)
    body = {"model": "cepo-fake-model", "input": QUESTION}
    with httpx.Client(timeout=1.0) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{base}/v1/responses", json=body)
    assert upstream.wait_until_idle(5.0)
    assert upstream.disconnected_calls > 0
    assert upstream.calls < 27


# -- requests refused -------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["cepo-fake-model", "fake-model"])
def test_previous_response_id_is_a_clear_400(proxy: str, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proxy).responses.create(model=model, input="hi", previous_response_id="resp_123")
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "previous_response_id" and "stores no responses" in error["message"]


def test_built_in_tools_are_a_clear_400(proxy: str, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proxy).responses.create(
            model="cepo-fake-model", input="hi", tools=[{"type": "web_search"}]
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "tools[0].type"
    assert upstream.calls == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"model": "cepo-fake-model", "input": [{"role": ["user"], "content": "x"}]},
            "input[0].role",
        ),
        (
            {"model": "cepo-fake-model", "input": [{"role": "user", "content": 5}]},
            "input[0].content",
        ),
        (
            {"model": "cepo-fake-model", "input": [{"role": "user", "content": [7]}]},
            "input[0].content[0]",
        ),
        ({"model": "cepo-fake-model", "input": 5}, "input"),
        ({"model": "cepo-fake-model", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "cepo-fake-model", "input": "x", "n": 2}, "n"),
        (
            {"model": "cepo-fake-model", "input": "x", "reasoning": {"effort": "extreme"}},
            "reasoning.effort",
        ),
        (
            {"model": "cepo-fake-model", "input": "x", "reasoning": {"effort": 3}},
            "reasoning.effort",
        ),
        (
            {"model": "cepo-fake-model", "input": "x", "tools": [{"type": "function"}]},
            "tools[0].name",
        ),
        ({"model": "cepo-fake-model"}, "input"),
        (
            {"model": "fake-model", "input": [{"type": "function_call", "name": "f"}]},
            "input[0].call_id",
        ),
    ],
)
def test_bad_requests_are_400s_naming_the_param(
    proxy: str, upstream: FakeUpstream, body: dict[str, Any], param: str
) -> None:
    with httpx.Client(timeout=30) as http:
        error = assert_envelope(http.post(f"{proxy}/v1/responses", json=body), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]
    assert upstream.calls == 0


def test_store_is_accepted_and_answered_false(proxy: str) -> None:
    response = sdk(proxy).responses.create(
        model="cepo-fake-model", input="hi", store=True, reasoning={"effort": "low"}
    )
    assert response.store is False


# -- plain models -----------------------------------------------------------------------------
def test_plain_model_translated_when_the_upstream_lacks_the_route(
    proxy: str, upstream: FakeUpstream
) -> None:
    client = sdk(proxy)
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object"}}]
    response = client.responses.create(
        model="fake-model",
        instructions="Be brief.",
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        tools=tools,  # type: ignore[arg-type]
        max_output_tokens=50,
        text={"format": {"type": "json_object"}},
    )
    assert "42" in response.output_text
    paths = [r.path for r in upstream.requests]
    assert paths == ["/v1/responses", "/v1/chat/completions"]
    chat = upstream.chat_requests[0].body
    assert chat["model"] == "fake-model" and chat["stream"] is True
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["messages"][2]["tool_calls"][0]["id"] == "c1"
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    assert chat["tools"][0]["function"]["name"] == "weather"
    assert chat["max_completion_tokens"] == 50
    assert chat["response_format"] == {"type": "json_object"}
    # Remembered: the next request goes straight to chat completions.
    client.responses.create(model="fake-model", input="again")
    assert [r.path for r in upstream.requests][2:] == ["/v1/chat/completions"]


def test_405_is_remembered_as_lacking_the_route(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    upstream.responses_route = 405
    base = make_proxy(upstream)
    with sdk(base).responses.stream(model="fake-model", input="hi") as stream:
        final = stream.get_final_response()
    assert "42" in final.output_text
    sdk(base).responses.create(model="fake-model", input="hi", stream=True).close()
    assert [r.path for r in upstream.requests].count("/v1/responses") == 1


def test_plain_model_relayed_to_an_upstream_that_serves_it(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    upstream.responses_route = 200
    base = make_proxy(upstream)
    body = {"model": "fake-model", "input": "hi", "previous_response_id": "resp_up", "store": True}
    with httpx.Client(timeout=30) as http:
        relayed = http.post(f"{base}/v1/responses", json=body)
        assert relayed.status_code == 200
        Response.model_validate(relayed.json())
        # Passed on as it came: the upstream keeps its own state.
        assert upstream.requests[-1].path == "/v1/responses"
        assert upstream.requests[-1].body == body
        with http.stream("POST", f"{base}/v1/responses", json={**body, "stream": True}) as stream:
            text = "".join(stream.iter_text())
    assert upstream.calls == 0  # no chat completion call at all
    _, events = raw_events(base, {"model": "fake-model", "input": "hi"})
    assert events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert text.count("event: response.output_text.delta") > 1 and "[DONE]" not in text
    # Byte for byte: the fake writes JSON with spaces after separators, the proxy's own
    # events are compact, so re-encoded events would show.
    assert '"type": "response.output_text.delta"' in text
    final = sdk(base).responses.create(model="fake-model", input="hi")
    assert "42" in final.output_text
    # Relayed tokens are counted as the upstream reported them (JSON and streams alike).
    with httpx.Client(timeout=30) as http:
        metrics = http.get(f"{base}/metrics").text
    counted = {
        line.split('direction="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("cepo_proxy_upstream_tokens_total{")
    }
    # Four relayed responses (two JSON, two streams) of the fake's 16-word reply, 3 in.
    assert counted == {"in": 4 * 3, "out": 4 * 16}, counted


def test_nothing_is_left_running(upstream: FakeUpstream) -> None:
    """Every way a Responses request ends (answered, streamed, refused, failed, abandoned)
    leaves the app's loop with the tasks it had before."""
    with proxy_in_thread(upstream_base_url=upstream.base_url, request_timeout=30.0) as proxy:
        client = sdk(proxy.url)
        client.responses.create(
            model="cepo-fake-model", input="warm up", reasoning={"effort": "low"}
        )
        baseline = proxy.probe.settle(0, timeout=0.5)
        body = {"model": "cepo-fake-model", "input": QUESTION, "reasoning": {"effort": "low"}}
        client.responses.create(**body)
        list(client.responses.create(**body, stream=True))
        client.responses.create(model="fake-model", input="hi")
        with pytest.raises(openai.BadRequestError):
            client.responses.create(**body, previous_response_id="resp_1")
        upstream.fault_for = lambda _: Fault.status(400, message="no")
        with pytest.raises(openai.BadRequestError):
            client.responses.create(**body)
        list(client.responses.create(**body, stream=True))
        upstream.fault_for = None
        upstream.tokens_per_second = 20.0
        with (
            httpx.Client(timeout=30) as http,
            http.stream("POST", f"{proxy.url}/v1/responses", json={**body, "stream": True}) as r,
        ):
            next(r.iter_lines())
        assert upstream.wait_until_idle(5.0)
        assert proxy.probe.settle(baseline) <= baseline, proxy.probe.describe_tasks()
