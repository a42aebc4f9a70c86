"""Splitting a ``text/event-stream`` body into its event blocks, byte for byte.

A relay passes events on as the upstream wrote them: :class:`EventBlockSplitter` is fed the
body as it arrives (split anywhere) and returns each complete block (its lines and the blank
line ending it, line endings as sent: ``\\r\\n``, ``\\r`` or ``\\n``). Blank lines between
blocks carry nothing and are dropped; a byte-order mark at the very start is dropped. What a
block means is :class:`~server.sse_decoder.SSEDecoder`'s business: feed it a block and it
returns that block's event, if any. Pure: no I/O.
"""

from __future__ import annotations

import re

from server.sse_decoder import DEFAULT_MAX_EVENT_SIZE, SSEDecodeError

_END_OF_LINE = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class EventBlockSplitter:
    """Incremental splitter of an event stream into blocks; one instance per stream.

    Memory is bounded: a block still incomplete past ``max_block_size`` bytes raises
    :class:`~server.sse_decoder.SSEDecodeError`, after which the splitter must be discarded.
    """

    def __init__(self, *, max_block_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._max = max_block_size
        self._buffer = bytearray()
        self._at_start = True
        self._line_start = 0  # where the line being read starts in the buffer
        self._search_from = 0  # where the next line ending may be
        self._has_content = False  # the pending block has a non-blank line

    @property
    def pending(self) -> bool:
        """Part of a block has arrived without its end."""
        return self._has_content or self._line_start < len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The blocks ``chunk`` completes, in order."""
        buffer = self._buffer
        buffer += chunk
        if self._at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                return []
            self._at_start = False
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
        blocks: list[bytes] = []
        block_start = 0
        position = self._search_from
        while (match := _END_OF_LINE.search(buffer, position)) is not None:
            if match.end() == len(buffer) and match.group() == b"\r":
                position = match.start()  # a "\n" may open the next chunk
                break
            if match.start() == self._line_start:  # a blank line: the block ends
                if self._has_content:
                    blocks.append(bytes(buffer[block_start : match.end()]))
                block_start = match.end()
                self._has_content = False
            else:
                self._has_content = True
            position = self._line_start = match.end()
        else:
            position = len(buffer)
        if block_start:
            del buffer[:block_start]
            position -= block_start
            self._line_start -= block_start
        self._search_from = position
        if len(buffer) > self._max:
            raise SSEDecodeError(f"event larger than {self._max} bytes")
        return blocks
