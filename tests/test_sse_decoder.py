"""The incremental SSE decoder: WHATWG parsing rules, arbitrary chunk splits, size limit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sse_decoder import ServerSentEvent, SSEDecodeError, SSEDecoder


def decode_whole(stream: bytes, *, lenient: bool = False) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [*decoder.feed(stream), *decoder.flush(lenient=lenient)]


def decode_split(stream: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in sorted(cuts):
        events += decoder.feed(stream[start:cut])
        start = cut
    events += decoder.feed(stream[start:])
    return events + decoder.flush()


def decode_bytewise(stream: bytes) -> list[ServerSentEvent]:
    return decode_split(stream, list(range(len(stream))))


# -- explicit cases ---------------------------------------------------------------------------


def test_openai_style_stream() -> None:
    stream = b'data: {"a": 1}\n\ndata: {"a": 2}\n\ndata: [DONE]\n\n'
    events = decode_whole(stream)
    assert [e.data for e in events] == ['{"a": 1}', '{"a": 2}', "[DONE]"]
    assert events[0].json() == {"a": 1}
    assert all(e.event is None and e.id is None and e.retry is None for e in events)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_all_line_endings(eol: bytes) -> None:
    stream = eol.join([b"event: ping", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert decode_whole(stream) == [ServerSentEvent("a\nb", "ping"), ServerSentEvent("c")]


def test_mixed_line_endings_and_cr_lf_split_between_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\r") == []
    # The "\n" completing "\r\n" must not count as a second (blank) line.
    assert decoder.feed(b"\ndata: two\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent("one\ntwo")]


def test_multibyte_character_split_across_chunks() -> None:
    stream = "data: héllo → 世界 🎉\n\n".encode()
    assert decode_bytewise(stream) == [ServerSentEvent("héllo → 世界 🎉")]


def test_leading_bom_is_dropped_once() -> None:
    stream = "\ufeffdata: x\n\ndata: \ufeffy\n\n".encode()
    assert [e.data for e in decode_bytewise(stream)] == ["x", "\ufeffy"]


def test_bom_not_at_start_of_stream_is_a_character() -> None:
    # A BOM before "data" makes the field name "\ufeffdata": an unknown field, ignored.
    stream = "data: x\n\n\ufeffdata: y\n\n".encode()
    assert [e.data for e in decode_whole(stream)] == ["x"]


def test_only_one_leading_space_is_stripped() -> None:
    assert decode_whole(b"data:  two spaces\n\n") == [ServerSentEvent(" two spaces")]
    assert decode_whole(b"data:none\n\n") == [ServerSentEvent("none")]


def test_field_without_colon_has_empty_value() -> None:
    assert decode_whole(b"data\ndata\n\n") == [ServerSentEvent("\n")]
    assert decode_whole(b"data\n\n") == [ServerSentEvent("")]


def test_value_may_contain_colons() -> None:
    assert decode_whole(b"data: a: b:c\n\n") == [ServerSentEvent("a: b:c")]


def test_comments_are_counted_not_dispatched() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": ping\n\n:\n: another\ndata: x\n\n")
    assert events == [ServerSentEvent("x")]
    assert decoder.comments_seen == 3


def test_blank_line_without_data_dispatches_nothing_and_resets_event_type() -> None:
    assert decode_whole(b"event: a\n\ndata: x\n\n") == [ServerSentEvent("x")]


def test_empty_event_name_means_default() -> None:
    assert decode_whole(b"event:\ndata: x\n\n") == [ServerSentEvent("x", None)]


def test_unknown_fields_are_ignored() -> None:
    assert decode_whole(b"foo: bar\nDATA: no\ndata: yes\n\n") == [ServerSentEvent("yes")]


def test_id_persists_and_nul_id_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x00x\ndata: c\n\nid\ndata: d\n\n"
    events = decode_whole(stream)
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", "")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [(b"retry: 1500", 1500), (b"retry: 15s", None), (b"retry: -1", None), (b"retry:", None)],
)
def test_retry_needs_ascii_digits(line: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(line + b"\ndata: x\n\ndata: y\n\n")
    assert [e.retry for e in events] == [expected, None]
    assert decoder.retry == expected


def test_non_ascii_digits_are_not_a_retry() -> None:
    assert decode_whole("retry: ٣\ndata: x\n\n".encode())[0].retry is None


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert decode_whole(b"data: a\xffb\n\n") == [ServerSentEvent("a\ufffdb")]


def test_truncated_utf8_at_end_of_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: \xe4\xb8") == []
    assert decoder.flush(lenient=True) == [ServerSentEvent("\ufffd")]


def test_unterminated_event_is_dropped_at_eof_by_default() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: [DONE]\n") == [ServerSentEvent("a")]
    assert decoder.flush() == []
    assert decoder.discarded_at_eof


def test_lenient_flush_dispatches_unterminated_event_and_line() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\ndata: b")
    assert decoder.flush(lenient=True) == [ServerSentEvent("a\nb")]
    assert decoder.flush(lenient=True) == []  # idempotent


def test_clean_end_discards_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n: trailing comment\n")
    assert decoder.flush() == []
    assert not decoder.discarded_at_eof


def test_feed_after_flush_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.flush()
    with pytest.raises(RuntimeError):
        decoder.feed(b"data: x\n\n")


def test_event_size_limit_counts_data_across_lines() -> None:
    decoder = SSEDecoder(max_event_size=32)
    decoder.feed(b"data: " + b"x" * 20 + b"\n")
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"data: " + b"y" * 20 + b"\n")


def test_event_size_limit_counts_an_unterminated_line() -> None:
    decoder = SSEDecoder(max_event_size=1024)
    with pytest.raises(SSEDecodeError):
        for _ in range(100):
            decoder.feed(b"z" * 64)


def test_size_is_per_event() -> None:
    decoder = SSEDecoder(max_event_size=16)
    for _ in range(100):
        assert decoder.feed(b"data: 0123456789\n\n") == [ServerSentEvent("0123456789")]


def test_max_event_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_event_size=0)


def test_json_of_non_json_data_raises() -> None:
    with pytest.raises(ValueError):
        ServerSentEvent("[DONE").json()


# -- properties -------------------------------------------------------------------------------

_EOLS = st.sampled_from(["\n", "\r\n", "\r"])
# Values without line breaks (any other unicode, including astral characters and NUL).
_VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)


@dataclass(frozen=True)
class _Spec:
    data: list[str]
    event: str | None
    id: str | None
    retry: int | None
    comment: str | None


_SPECS = st.builds(
    _Spec,
    data=st.lists(_VALUES, min_size=1, max_size=4),
    event=st.none() | _VALUES.filter(lambda v: v != ""),
    id=st.none() | _VALUES.filter(lambda v: "\0" not in v),
    retry=st.none() | st.integers(min_value=0, max_value=10**6),
    comment=st.none() | _VALUES,
)


def _field(name: str, value: str, spaced: bool) -> str:
    # Without the space, a value starting with a space would lose it: keep the space then.
    return f"{name}: {value}" if spaced or value.startswith(" ") else f"{name}:{value}"


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[ServerSentEvent]]:
    specs = draw(st.lists(_SPECS, max_size=6))
    bom = draw(st.booleans())
    text = "\ufeff" if bom else ""
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    for spec in specs:
        lines: list[str] = []
        if spec.comment is not None:
            lines.append(":" + spec.comment)
        if spec.event is not None:
            lines.append(_field("event", spec.event, draw(st.booleans())))
        if spec.id is not None:
            lines.append(_field("id", spec.id, draw(st.booleans())))
            last_id = spec.id
        if spec.retry is not None:
            lines.append(f"retry: {spec.retry}")
        lines += [_field("data", value, draw(st.booleans())) for value in spec.data]
        lines.append("")
        for line in lines:
            eol = draw(_EOLS)
            if text.endswith("\r") and not line and eol == "\n":
                eol = "\r"  # "\r" + "" + "\n" would be one CRLF, not two line endings
            text += line + eol
        expected.append(ServerSentEvent("\n".join(spec.data), spec.event, last_id, spec.retry))
    return text.encode(), expected


@settings(max_examples=150, deadline=None)
@given(_streams(), st.data())
def test_any_split_gives_the_events_that_were_written(
    written: tuple[bytes, list[ServerSentEvent]], data: st.DataObject
) -> None:
    stream, expected = written
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12))
    assert decode_whole(stream) == expected
    assert decode_split(stream, cuts) == expected


@settings(max_examples=40, deadline=None)
@given(_streams())
def test_byte_by_byte_gives_the_events_that_were_written(
    written: tuple[bytes, list[ServerSentEvent]],
) -> None:
    stream, expected = written
    assert decode_bytewise(stream) == expected


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=200)
    | st.lists(
        st.sampled_from([b"data:", b" ", b"x", b"\r", b"\n", b":", b"\xe4\xb8\x96", b"\xff"]),
        max_size=60,
    ).map(b"".join),
    st.data(),
)
def test_arbitrary_bytes_split_anywhere_decode_like_the_whole(
    stream: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12))
    assert decode_split(stream, cuts) == decode_whole(stream)


def _outcome(stream: bytes, cuts: list[int], limit: int) -> tuple[object, ...]:
    """Events and decoder state after feeding ``stream`` cut at ``cuts``, or the error."""
    decoder = SSEDecoder(max_event_size=limit)
    events: list[ServerSentEvent] = []
    start = 0
    try:
        for cut in [*sorted(cuts), len(stream)]:
            events += decoder.feed(stream[start:cut])
            start = cut
        events += decoder.flush()
    except SSEDecodeError:
        return ("too large",)
    return (events, decoder.last_event_id, decoder.retry, decoder.comments_seen)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *("data: ", "data:", "data: x", "event: e", "id: 7", "retry: 5", ":c"),
                *("\n", "\n\n", "x", " ", "yyyyyyyy", "\ufeff"),
            ]
        ),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
    st.sampled_from([4, 12, 10_000]),
)
def test_lf_streams_decode_whole_as_byte_by_byte(stream: bytes, limit: int) -> None:
    """Whole, a chunk of LF-only lines goes through the one-step path for plain ``data``
    events; byte by byte, never (no chunk holds a blank line). Same events, same state,
    same size verdicts."""
    assert _outcome(stream, [], limit) == _outcome(stream, list(range(len(stream))), limit)


def test_a_retry_or_id_from_an_earlier_block_reaches_a_plain_data_event() -> None:
    stream = b"retry: 5\nid: 9\n\ndata: x\n\n"
    expected = [ServerSentEvent("x", None, "9", 5)]
    assert decode_whole(stream) == expected
    assert decode_bytewise(stream) == expected
