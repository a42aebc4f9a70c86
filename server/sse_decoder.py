"""A pure, incremental decoder for Server-Sent Events (``text/event-stream``).

Feed it the bytes of a response body as they arrive, split anywhere (inside a UTF-8
character, between ``\\r`` and ``\\n``); it returns each event once the blank line ending it
has arrived. No I/O happens here, so the upstream client owns reading and closing the stream.

Parsing follows the WHATWG HTML "event stream interpretation" rules:

- The stream is UTF-8; invalid bytes become U+FFFD; one byte-order mark at the very start is
  dropped.
- Lines end with ``\\r\\n``, ``\\r`` or ``\\n``.
- A line starting with ``:`` is a comment (counted in ``comments_seen``, never an event; the
  proxy's own keep-alive pings are such comments).
- ``field:value`` with one leading space of the value removed; a line without a colon is a
  field with an empty value. Unknown fields are ignored.
- ``data`` lines are joined with ``\\n``; a blank line dispatches the event if any ``data``
  line was seen, otherwise it only resets the event type.
- ``event`` sets the type of the next event (empty means the default, reported as ``None``).
- ``id`` sets the last event id unless the value contains NUL; the id persists, so every later
  event reports it (``ServerSentEvent.id``) until another ``id`` line changes it.
- ``retry`` is honoured only when its value is ASCII digits; it is reported on the next
  dispatched event (``ServerSentEvent.retry``) and kept in ``SSEDecoder.retry``.

End of stream (``flush``): per the spec an event without its terminating blank line is
incomplete and is discarded (``flush()`` returns it only with ``lenient=True``);
``discarded_at_eof`` tells the caller that the stream ended mid-event.

Memory is bounded: when a line (ended or still pending) plus the event's data exceed
``max_event_size`` characters, ``SSEDecodeError`` is raised and the decoder must be discarded.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

#: Default cap on one event (pending line plus accumulated data), in characters.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_END_OF_LINE = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]+")
_BOM = "\ufeff"


class SSEDecodeError(ValueError):
    """The stream cannot be decoded within the limits (an event is too large)."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event. ``event`` is ``None`` for the default type ("message")."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.data)


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder; one instance per stream (not thread-safe)."""

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._max_event_size = max_event_size
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True
        self._skip_line_feed = False
        # The unterminated line so far, in pieces (joining once avoids quadratic copying).
        self._line_parts: list[str] = []
        self._line_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._retry_pending: int | None = None
        self._comments_seen = 0
        self._finished = False
        self._discarded_at_eof = False
        self.last_event_id: str | None = None
        """The last ``id`` field seen (``None`` before any)."""
        self.retry: int | None = None
        """The last valid ``retry`` value in milliseconds (``None`` before any)."""

    @property
    def comments_seen(self) -> int:
        """Comment lines (``:`` prefix) seen so far."""
        return self._comments_seen

    @property
    def discarded_at_eof(self) -> bool:
        """``flush()`` found an unterminated event or line and dropped it."""
        return self._discarded_at_eof

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` (any split of the stream) and return the events it completes.

        Raises ``SSEDecodeError`` when an event grows past ``max_event_size`` and
        ``RuntimeError`` after ``flush()``.
        """
        if self._finished:
            raise RuntimeError("feed() after flush()")
        return self._feed_text(self._utf8.decode(chunk))

    def flush(self, *, lenient: bool = False) -> list[ServerSentEvent]:
        """End of stream: return what the stream completed, and nothing more by default.

        Strict (default, the WHATWG rule): an event whose blank line never came is dropped
        (and ``discarded_at_eof`` is set). ``lenient=True`` treats the end of the stream as the
        end of the last line and of the event, returning it if it has data. Idempotent.
        """
        if self._finished:
            return []
        events = self._feed_text(self._utf8.decode(b"", final=True))
        self._finished = True
        pending = bool(self._line_size) or bool(self._data)
        if not pending:
            return events
        if not lenient:
            self._discarded_at_eof = True
            return events
        if self._line_size:
            self._process_line(self._take_line(""))
        event = self._dispatch()
        return [*events, event] if event is not None else events

    # -- internals ----------------------------------------------------------------------------

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text.startswith(_BOM):
                text = text[1:]
        if self._skip_line_feed:
            self._skip_line_feed = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" not in text:
            return self._feed_lf_text(text)
        events: list[ServerSentEvent] = []
        position = 0
        while True:
            match = _END_OF_LINE.search(text, position)
            if match is None:
                rest = text[position:]
                if rest:
                    self._line_parts.append(rest)
                    self._line_size += len(rest)
                    self._check_size()
                return events
            line = self._take_line(text[position : match.start()])
            if len(line) + self._data_size > self._max_event_size:
                # The bound a pending line meets, met by a whole one too, so the verdict
                # does not depend on where the network split the stream.
                raise SSEDecodeError(f"event larger than {self._max_event_size} characters")
            if match.group() == "\r" and match.end() == len(text):
                self._skip_line_feed = True  # a "\n" may open the next chunk
            position = match.end()
            self._end_line(line, events)

    def _feed_lf_text(self, text: str) -> list[ServerSentEvent]:
        """:meth:`_feed_text` for text whose lines all end in ``"\n"`` (what every LLM server
        sends): the same steps, with ``str.split`` in place of a regular expression search per
        line, and whole ``data: <value>`` events taken in one step when the decoder stands
        between events."""
        events: list[ServerSentEvent] = []
        if not (self._line_parts or self._data or self._event_type):
            *blocks, text = text.split("\n\n")
            for block in blocks:
                # The common event: one data line and its blank line. Anything else (more
                # lines, other fields, comments, an oversized line) takes the general steps.
                if (
                    block.startswith("data: ")
                    and "\n" not in block
                    and len(block) <= self._max_event_size
                ):
                    retry, self._retry_pending = self._retry_pending, None
                    events.append(ServerSentEvent(block[6:], None, self.last_event_id, retry))
                    continue
                self._lf_lines([*block.split("\n"), ""], events)
        *lines, rest = text.split("\n")
        self._lf_lines(lines, events)
        if rest:
            self._line_parts.append(rest)
            self._line_size += len(rest)
            self._check_size()
        return events

    def _lf_lines(self, lines: list[str], events: list[ServerSentEvent]) -> None:
        """Complete lines (their ``"\n"`` removed), the first one joined to the pending part."""
        for piece in lines:
            line = self._take_line(piece)
            if len(line) + self._data_size > self._max_event_size:
                raise SSEDecodeError(f"event larger than {self._max_event_size} characters")
            self._end_line(line, events)

    def _end_line(self, line: str, events: list[ServerSentEvent]) -> None:
        """A complete line: a field of the pending event, or (empty) the end of it."""
        if line:
            self._process_line(line)
            self._check_size()
        else:
            event = self._dispatch()
            if event is not None:
                events.append(event)

    def _take_line(self, tail: str) -> str:
        if not self._line_parts:
            return tail
        line = "".join([*self._line_parts, tail])
        self._line_parts, self._line_size = [], 0
        return line

    def _check_size(self) -> None:
        if self._line_size + self._data_size > self._max_event_size:
            raise SSEDecodeError(f"event larger than {self._max_event_size} characters")

    def _process_line(self, line: str) -> None:
        if line.startswith(":"):
            self._comments_seen += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and _DIGITS.fullmatch(value):
            self._retry_pending = int(value)
            self.retry = self._retry_pending

    def _dispatch(self) -> ServerSentEvent | None:
        event_type, self._event_type = self._event_type, ""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data, self._data_size = [], 0
        retry, self._retry_pending = self._retry_pending, None
        return ServerSentEvent(data, event_type or None, self.last_event_id, retry)
