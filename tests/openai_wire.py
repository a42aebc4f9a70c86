"""What tests check on the proxy's answers: the OpenAI error envelope and SSE bodies.

One envelope check (:func:`assert_envelope`, :func:`is_envelope`) and one SSE parser for
every test: the project's own decoder (:class:`server.sse_decoder.SSEDecoder`), so multi-line
``data``, ``event`` and ``id`` fields are read as a client reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from server.sse_decoder import ServerSentEvent, SSEDecoder

ENVELOPE_FIELDS = {"message", "type", "param", "code"}


def is_envelope(payload: Any) -> bool:
    """True when ``payload`` is exactly the OpenAI error envelope."""
    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return False
    error = payload["error"]
    return (
        isinstance(error, dict)
        and set(error) == ENVELOPE_FIELDS
        and isinstance(error["message"], str)
        and bool(error["message"])
        and isinstance(error["type"], str)
    )


def assert_envelope(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """Assert ``response`` is an error in the envelope, with ``status`` when given (else any
    4xx / 5xx but 500), and no stack trace; return its ``error`` object."""
    if status is None:
        assert response.status_code >= 400, response.text[:300]
        assert response.status_code != 500, response.text[:300]
    else:
        assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text
    payload = response.json()
    assert is_envelope(payload), payload
    error: dict[str, Any] = payload["error"]
    return error


def sse_events(body: str | bytes) -> list[ServerSentEvent]:
    """The events of a whole SSE body, as a client decodes them."""
    decoder = SSEDecoder()
    raw = body.encode() if isinstance(body, str) else body
    return [*decoder.feed(raw), *decoder.flush()]


def sse_data(body: str | bytes) -> list[str]:
    """The ``data`` of each event of a whole SSE body, in order."""
    return [event.data for event in sse_events(body)]


def iter_sse_data(response: httpx.Response) -> Iterator[str]:
    """The ``data`` of each event of a streamed response, as it arrives."""
    decoder = SSEDecoder()
    for chunk in response.iter_bytes():
        for event in decoder.feed(chunk):
            yield event.data
