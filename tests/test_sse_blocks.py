"""The event-block splitter: blocks as written, whatever the network split."""

from __future__ import annotations

import itertools

import pytest

from server.sse_blocks import EventBlockSplitter
from server.sse_decoder import SSEDecodeError, SSEDecoder

STREAM = (
    b"\xef\xbb\xbf: comment\n\n"
    b"event: message\nid: 1\ndata: one\ndata: two\n\n"
    b"\n\n"
    b"data: crlf\r\n\r\n"
    b"data: cr\r\r"
    b"retry: 10\ndata: last\n\n"
)
BLOCKS = [
    b": comment\n\n",
    b"event: message\nid: 1\ndata: one\ndata: two\n\n",
    b"data: crlf\r\n\r\n",
    b"data: cr\r\r",
    b"retry: 10\ndata: last\n\n",
]


def split_at(points: list[int]) -> list[bytes]:
    splitter = EventBlockSplitter()
    blocks: list[bytes] = []
    edges = [0, *points, len(STREAM)]
    for start, end in itertools.pairwise(edges):
        blocks += splitter.feed(STREAM[start:end])
    assert not splitter.pending
    return blocks


@pytest.mark.parametrize("point", range(len(STREAM) + 1))
def test_any_single_split_gives_the_blocks_as_written(point: int) -> None:
    assert split_at([point]) == BLOCKS


def test_byte_by_byte_gives_the_blocks_as_written() -> None:
    assert split_at(list(range(1, len(STREAM)))) == BLOCKS


def test_blocks_decode_to_the_events_of_the_stream() -> None:
    whole = SSEDecoder()
    expected = whole.feed(STREAM)
    one_by_one = SSEDecoder()
    events = [event for block in BLOCKS for event in one_by_one.feed(block)]
    assert events == expected
    assert [e.data for e in events] == ["one\ntwo", "crlf", "cr", "last"]


def test_an_unended_block_is_pending() -> None:
    splitter = EventBlockSplitter()
    assert splitter.feed(b"data: x\n") == []
    assert splitter.pending
    assert splitter.feed(b"\n") == [b"data: x\n\n"]
    assert not splitter.pending


def test_an_oversized_block_is_refused() -> None:
    splitter = EventBlockSplitter(max_block_size=16)
    with pytest.raises(SSEDecodeError):
        splitter.feed(b"data: " + b"x" * 32)
