"""The OpenAI event-stream module's pure parts: encoding events, mapping stream errors."""

from __future__ import annotations

import pytest

from reasoning.llm import LLMError, LLMTimeout
from server.event_stream import (
    DONE,
    deadline_error,
    encode_event,
    json_event,
    server_shutdown_timeout,
    stream_error,
)
from server.sse_decoder import ServerSentEvent, SSEDecoder


def decode(raw: bytes) -> list[ServerSentEvent]:
    return SSEDecoder().feed(raw)


@pytest.mark.parametrize("data", ["one", "two\nlines", "three\nlines\nhere", "", "{}\n"])
def test_encoded_events_decode_to_their_data(data: str) -> None:
    (event,) = decode(encode_event(data, event="delta", id="7", retry=1500))
    assert event == ServerSentEvent(data, "delta", "7", 1500)


def test_any_line_ending_in_data_becomes_its_own_data_line() -> None:
    raw = encode_event("a\rb\r\nc")
    assert raw == b"data: a\ndata: b\ndata: c\n\n"
    assert [event.data for event in decode(raw)] == ["a\nb\nc"]


def test_json_events_are_one_compact_data_line() -> None:
    assert json_event({"a": [1, "x"]}) == b'data: {"a":[1,"x"]}\n\n'
    assert decode(DONE)[0].data == "[DONE]"


def test_stream_errors_map_to_openai_errors() -> None:
    assert stream_error(TimeoutError()).status == 504
    assert stream_error(LLMTimeout("slow", code="timeout")).status == 504
    limited = stream_error(ExceptionGroup("g", [LLMError("busy", status=429)]))
    assert (limited.status, limited.message) == (429, "busy")
    assert stream_error(LLMError("bad gateway", status=503)).status == 502
    failure = stream_error(RuntimeError("secret detail"))
    assert (failure.status, failure.code) == (500, "internal_error")
    assert "secret" not in failure.message


def test_errors_are_built_fresh() -> None:
    first, second = deadline_error(), deadline_error()
    assert first is not second
    assert first.body() == second.body()
    assert first.__traceback__ is None


def test_the_server_waits_for_every_stream_to_end() -> None:
    assert server_shutdown_timeout(30.0) >= 30.0 + 2 * 2.0
    assert server_shutdown_timeout(0.0) >= 4
