"""Injected upstream failures: what the scripted server does instead of answering normally.

A ``Fault`` is a value; the server (``server.py``) interprets it. Build one with the class
methods, never the constructor. Each fault applies to one ``POST /v1/chat/completions``
request; ``GET /v1/models`` is never faulted.

How each fault looks on the wire:

- ``status(code)``: an error response in the personality's error body shape, with
  ``Retry-After`` / ``retry-after-ms`` headers when asked (Cerebras adds its rate-limit headers).
- ``refuse()``: the connection is accepted, the request read, then the socket is closed with a
  TCP reset before any response byte (httpx: ``RemoteProtocolError`` or ``ReadError``).
  A listening socket cannot refuse one request; for a real ``ECONNREFUSED`` point the client
  at ``tests.servers.unused_loopback_url()``.
- ``reset_mid_body(after_chunks)``: status 200 and headers are sent, then part of the body
  (``after_chunks`` SSE chunks counting the role chunk, or half of the JSON body), then a
  TCP reset.
- ``stall_before_headers(seconds)``: sleep, then answer normally (a first-byte timeout).
- ``stall_mid_stream(seconds, after_chunks)``: send part of the body, sleep, then finish
  normally (an idle timeout). For a non-streamed request: half of the JSON body, the stall,
  then the rest.
- ``malformed_json()``: non-streamed: status 200, ``application/json``, a truncated JSON body.
  Streamed: the role chunk, then a ``data:`` line that is not JSON, then ``[DONE]``.
- ``no_done()``: a streamed response that ends (cleanly) after the finish chunk without
  ``data: [DONE]``. No effect on a non-streamed request.
- ``length()``: the reply is cut to half its tokens with ``finish_reason: "length"``.
- ``empty_choices()``: ``choices: []`` (non-streamed), or one chunk with ``choices: []`` and then
  ``[DONE]`` (streamed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "status",
    "refuse",
    "reset_mid_body",
    "stall_before_headers",
    "stall_mid_stream",
    "malformed_json",
    "no_done",
    "length",
    "empty_choices",
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. See the module docstring for the wire behaviour of each kind."""

    kind: FaultKind
    status_code: int = 200
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    #: Raw JSON error body that replaces the personality's shape (``status`` only).
    body: Any = None
    seconds: float = 0.0
    after_chunks: int = 2
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        message: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer with HTTP ``code`` and an error body (``body`` overrides the shape)."""
        if code < 400:
            raise ValueError(f"a status fault needs an error status, not {code}")
        return cls(
            "status",
            status_code=code,
            message=message,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            body=body,
            headers=dict(headers or {}),
        )

    @classmethod
    def refuse(cls) -> Fault:
        """Close the connection with a reset before sending any response byte."""
        return cls("refuse")

    @classmethod
    def reset_mid_body(cls, after_chunks: int = 2) -> Fault:
        """Send headers and part of the body, then reset the connection."""
        return cls("reset_mid_body", after_chunks=after_chunks)

    @classmethod
    def stall_before_headers(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before the response headers, then answer normally."""
        return cls("stall_before_headers", seconds=seconds)

    @classmethod
    def stall_mid_stream(cls, seconds: float, after_chunks: int = 2) -> Fault:
        """Send part of the body, wait ``seconds``, then finish normally."""
        return cls("stall_mid_stream", seconds=seconds, after_chunks=after_chunks)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with a body (or one SSE data line) that is not valid JSON."""
        return cls("malformed_json")

    @classmethod
    def no_done(cls) -> Fault:
        """End a stream without the ``data: [DONE]`` line."""
        return cls("no_done")

    @classmethod
    def length(cls) -> Fault:
        """Cut the reply to half its tokens with ``finish_reason: "length"``."""
        return cls("length")

    @classmethod
    def empty_choices(cls) -> Fault:
        """Answer with an empty ``choices`` list."""
        return cls("empty_choices")
