"""Tools the reliability tests share: CePO stage recognition, reading a proxy stream to its
end, and a raw socket client. (The proxy itself is started by :mod:`tests.proxies`, the
envelope and SSE helpers are :mod:`tests.openai_wire`'s.)
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from reasoning.prompts import HEADINGS
from tests.openai_wire import is_envelope
from tests.proxies import LoopProbe

# -- CePO stages ----------------------------------------------------------------------------

#: The stage whose heading opens the engine's task message, by heading text.
_STAGE_BY_HEADING = {heading: stage for stage, heading in HEADINGS.items()}


def stage_of(body: Any) -> str | None:
    """The CePO step an upstream request body belongs to (``plan``, ``execute``, ``refine``,
    ``final``, ``fallback``, ``rate``, ``compare``, ``diversity``), or ``None`` for a call
    that is not a CePO step (a pass-through).

    Every step's task is the last user message and opens with that step's heading line
    (``reasoning.prompts.HEADINGS``).
    """
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    content = messages[-1].get("content")
    if not isinstance(content, str):
        return None
    first_line = content.split("\n", 1)[0]
    return _STAGE_BY_HEADING.get(first_line)


@dataclass
class StreamOutcome:
    """A streamed response read to its end: its chunks, the error chunk if any, the text."""

    chunks: list[dict[str, Any]]
    error: dict[str, Any] | None
    content: str
    finish_reasons: list[str]
    unparsed: list[str]


def read_stream(lines: list[str]) -> StreamOutcome:
    """Interpret a proxy stream's data lines; asserts it ends with exactly one ``[DONE]`` and
    that an error chunk, if any, is the last chunk before it."""
    assert lines and lines[-1] == "[DONE]", lines[-3:]
    assert lines.count("[DONE]") == 1
    chunks: list[dict[str, Any]] = []
    unparsed: list[str] = []
    error: dict[str, Any] | None = None
    for position, line in enumerate(lines[:-1]):
        try:
            chunk = json.loads(line)
        except ValueError:
            unparsed.append(line)
            continue
        if isinstance(chunk, dict) and "error" in chunk:
            assert is_envelope(chunk), chunk
            assert position == len(lines) - 2, "an error chunk must be the last before [DONE]"
            error = chunk["error"]
            continue
        chunks.append(chunk)
    content = ""
    finish: list[str] = []
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            if choice.get("finish_reason"):
                finish.append(choice["finish_reason"])
    return StreamOutcome(chunks, error, content, finish, unparsed)


# -- a raw HTTP/1.1 client for leaving at exact points ----------------------------------------


class RawRequest:
    """One HTTP/1.1 request over a plain socket, for tests that must control the bytes sent
    (invalid headers) or leave at an exact point of the response (``read_until``, ``close``).
    """

    def __init__(
        self, base_url: str, timeout: float = 10.0, *, probe: LoopProbe | None = None
    ) -> None:
        #: The probe of the proxy it talks to, when the test wants to know it finished, and
        #: how many requests that proxy had finished before this one was sent.
        self.probe = probe
        self.completed_before = probe.completed if probe is not None else 0
        url = httpx.URL(base_url)
        assert url.host in ("127.0.0.1", "localhost")
        self._sock = socket.create_connection(("127.0.0.1", url.port or 80), timeout=timeout)
        self.received = b""

    def send(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        raw_headers: bytes = b"",
    ) -> None:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
            "Connection: close",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n").encode("latin-1") + raw_headers + b"\r\n"
        self._sock.sendall(head + body)

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is (a request no client library would produce)."""
        self._sock.sendall(data)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send("POST", path, json.dumps(body).encode(), headers)

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bool:
        """Read until ``marker`` was received (True) or the peer closed / timeout (False)."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                return False
            if not data:
                return False
            self.received += data
        return True

    def read_all(self, timeout: float = 10.0) -> bytes:
        self.read_until(b"\x00never\x00", timeout)
        return self.received

    def status(self) -> int | None:
        head = self.received.split(b"\r\n", 1)[0]
        parts = head.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None

    def close(self) -> None:
        """Leave: close the socket at once (a client that went away)."""
        self._sock.close()
