"""What the scripted upstream saw: every request, its timing and how it ended.

The server's event loop writes, the test's thread reads; one lock guards all of it, and the
readers get copies or plain numbers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["open", "completed", "client_disconnected", "error"]

CHAT_PATH = "/v1/chat/completions"


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it.

    ``body`` is the parsed JSON (``None`` when it was not JSON); ``headers`` have lower-case
    names. ``started`` / ``ended`` are ``time.monotonic()`` readings. ``outcome``:
    ``"completed"`` (a whole 2xx response was sent, even one with injected bad content such as
    malformed JSON), ``"client_disconnected"`` (the client went away before the response
    ended), ``"error"`` (an error status, or the connection reset by a fault), ``"open"``
    while it runs. ``fault`` names the injected fault's kind, if any.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    ended: float | None = None
    outcome: Outcome = "open"
    status: int | None = None
    fault: str | None = None
    chunks_sent: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        return self.path == CHAT_PATH


class Recorder:
    """Thread-safe log of requests with call accounting for chat completions.

    ``history_limit`` bounds the log (oldest records are dropped; load tests and the standalone
    server set it so memory stays flat); the counters are exact regardless and count from
    the last ``reset()``.
    """

    def __init__(self, history_limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._history_limit = history_limit
        self._requests: deque[RecordedRequest] = deque(maxlen=history_limit)
        self._chat_calls = 0
        self._disconnected_calls = 0
        self._open_calls = 0
        self._max_open_calls = 0

    def open(self, method: str, path: str, headers: dict[str, str], body: Any) -> RecordedRequest:
        record = RecordedRequest(method, path, headers, body, started=time.monotonic())
        with self._lock:
            self._requests.append(record)
            if record.is_chat:
                self._chat_calls += 1
                self._open_calls += 1
                self._max_open_calls = max(self._max_open_calls, self._open_calls)
        return record

    def close(self, record: RecordedRequest, outcome: Outcome) -> None:
        with self._lock:
            if record.outcome != "open":
                return
            record.outcome = outcome
            record.ended = time.monotonic()
            if record.is_chat:
                self._open_calls -= 1
                if outcome == "client_disconnected":
                    self._disconnected_calls += 1

    def note_chunk(self, record: RecordedRequest) -> None:
        with self._lock:
            record.chunks_sent += 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_calls(self) -> int:
        with self._lock:
            return self._chat_calls

    @property
    def disconnected_calls(self) -> int:
        with self._lock:
            return self._disconnected_calls

    @property
    def open_calls(self) -> int:
        with self._lock:
            return self._open_calls

    @property
    def max_open_calls(self) -> int:
        with self._lock:
            return self._max_open_calls

    def reset(self) -> None:
        """Forget finished requests, zero the counters; calls still open stay open."""
        with self._lock:
            still_open = [r for r in self._requests if r.outcome == "open"]
            self._requests = deque(still_open, maxlen=self._history_limit)
            self._chat_calls = 0
            self._disconnected_calls = 0
            self._max_open_calls = self._open_calls
