"""The Responses translation, pure: requests to chat bodies, chat chunks to events and objects.

Shapes are checked with the openai SDK's own types (``openai.types.responses``), validated
strictly (``model_validate``), not constructed leniently as the SDK does at run time.
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from server.errors import ProxyError
from server.responses.encoder import ResponseEncoder, responses_usage
from server.responses.route import response_echo
from server.responses.to_chat import chat_body
from server.responses.wire import ResponsesRequest

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


def translate(body: dict[str, Any]) -> dict[str, Any]:
    return chat_body(ResponsesRequest.model_validate(body), body)


def refused(body: dict[str, Any]) -> ProxyError:
    with pytest.raises(ProxyError) as caught:
        translate(body)
    assert caught.value.status == 400
    return caught.value


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def run(encoder: ResponseEncoder, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = encoder.start()
    for piece in chunks:
        events += encoder.feed(piece)
    return events + encoder.finish()


def encoder_for(body: dict[str, Any]) -> ResponseEncoder:
    return ResponseEncoder(model=body["model"], echo=response_echo(ResponsesRequest(**body)))


# -- requests ---------------------------------------------------------------------------------
def test_string_input_instructions_and_options() -> None:
    chat = translate(
        {
            "model": "cepo-m",
            "input": "What is 6 times 7?",
            "instructions": "Be brief.",
            "max_output_tokens": 300,
            "temperature": 0.5,
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "answer",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "low",
            },
            "store": True,
            "metadata": {"a": "b"},
            "seed": 7,
        }
    )
    assert chat == {
        "model": "cepo-m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 6 times 7?"},
        ],
        "max_completion_tokens": 300,
        "temperature": 0.5,
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "verbosity": "low",
        "seed": 7,
    }
    assert translate({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}})[
        "response_format"
    ] == {"type": "json_object"}


def test_items_sent_back_reasoning_dropped_tool_turns_kept() -> None:
    chat = translate(
        {
            "model": "cepo-m",
            "input": [
                {"role": "developer", "content": "Use tools."},
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "OLD TRACE"}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "weather",
                    "arguments": '{"city":"Paris"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "And this?"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                    ],
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "name": "weather",
                    "parameters": {"type": "object"},
                    "strict": False,
                }
            ],
            "tool_choice": {"type": "function", "name": "weather"},
        }
    )
    assert "OLD TRACE" not in repr(chat)
    assert chat["messages"] == [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": {"type": "object"}, "strict": False},
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "weather"}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"background": True}, "background"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"include": ["file_search_call.results"]}, "include[0]"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ],
)
def test_unsupported_is_a_400_naming_the_param(extra: dict[str, Any], param: str) -> None:
    error = refused({"model": "cepo-m", "input": "hi", **extra})
    assert error.param == param
    assert error.code in (
        "unsupported_parameter",
        "unsupported_value",
        "missing_required_parameter",
    )
    assert error.message.startswith(f"{param}: ") or error.message.startswith(f"{param} ")


def test_encrypted_reasoning_may_be_asked_for() -> None:
    assert translate({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]})


# -- events -----------------------------------------------------------------------------------
def test_reasoning_then_message_in_openai_order_with_usage() -> None:
    encoder = encoder_for({"model": "cepo-m", "store": True})
    events = run(
        encoder,
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "### Plan\n\nmultiply\n\n"}),
            chunk({"reasoning_content": "### Check\n\nok\n\n"}),
            chunk({"content": "It is "}),
            chunk({"content": "42."}),
            chunk({}, "stop", cepo={"upstream_calls": 6}),
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 30,
                    "total_tokens": 40,
                    "completion_tokens_details": {"reasoning_tokens": 26},
                },
            },
        ],
    )
    for event in events:
        EVENT.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = Response.model_validate(events[-1]["response"])
    assert final.status == "completed" and final.store is False
    assert final.output_text == "It is 42."
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "### Plan\n\nmultiply\n\n### Check\n\nok\n\n"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 30)
    assert final.usage.output_tokens_details.reasoning_tokens == 26
    assert (final.model_extra or {})["cepo"] == {"upstream_calls": 6}
    assert encoder.response == events[-1]["response"]


def test_tool_calls_become_function_call_items() -> None:
    encoder = encoder_for(
        {
            "model": "m",
            "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": True}],
        }
    )
    events = run(
        encoder,
        [
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "f", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 1, "id": "call_b", "function": {"name": "f", "arguments": "{}"}}
                    ]
                }
            ),
            chunk({}, "tool_calls"),
        ],
    )
    for event in events:
        EVENT.validate_python(event)
    final = Response.model_validate(encoder.response)
    calls = [
        (o.type, getattr(o, "call_id", None), getattr(o, "arguments", None)) for o in final.output
    ]
    assert calls == [("function_call", "call_a", '{"x":1}'), ("function_call", "call_b", "{}")]
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"x":', "1}", "{}"]


def test_think_block_in_content_is_reasoning_and_length_is_incomplete() -> None:
    encoder = encoder_for({"model": "m"})
    events = run(
        encoder,
        [chunk({"content": "<think>hm"}), chunk({"content": "m</think>Yes"}), chunk({}, "length")],
    )
    final = Response.model_validate(events[-1]["response"])
    assert events[-1]["type"] == "response.incomplete"
    assert final.status == "incomplete" and final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].type == "reasoning" and final.output[0].summary[0].text == "hmm"
    assert final.output_text == "Yes"


def test_failure_ends_with_error_and_response_failed() -> None:
    encoder = encoder_for({"model": "m"})
    events = encoder.start() + encoder.feed(chunk({"content": "par"}))
    events += encoder.fail({"message": "upstream broke", "type": "upstream_error", "code": None})
    for event in events:
        EVENT.validate_python(event)
    assert [e["type"] for e in events[-5:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    assert events[-2]["message"] == "upstream broke"
    assert events[-3]["item"]["status"] == "incomplete"
    failed = Response.model_validate(events[-1]["response"])
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error"


def test_usage_without_details() -> None:
    usage = responses_usage({"prompt_tokens": 3, "completion_tokens": 4, "estimated": True})
    assert usage["total_tokens"] == 7 and usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["estimated"] is True
