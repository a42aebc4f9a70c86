"""uvicorn's HTTP/1.1 protocol, with its parser-level rejections in the OpenAI envelope.

A request the HTTP parser itself refuses (a control byte in a header value, a malformed
request line, a bad chunk size) never reaches the app: uvicorn answers ``400`` with the
plain text "Invalid HTTP request received." and closes the connection. Clients of this
proxy parse every error as ``{"error": {...}}``, so :func:`protocol_class` returns
uvicorn's protocol (httptools when installed, h11 otherwise, as uvicorn's "auto" picks)
with that one answer replaced.
What is refused, and when, stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import json
from functools import cache

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

_MESSAGE = "invalid HTTP request: the request could not be parsed ({reason})"


def invalid_request_bytes(reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole ``400`` response (head and body) carrying an OpenAI error, ``Connection: close``."""
    body = json.dumps(
        {
            "error": {
                "message": _MESSAGE.format(reason=reason.rstrip(".")),
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_http_request",
            }
        }
    ).encode()
    head = [b"HTTP/1.1 400 Bad Request\r\n"]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body


class _EnvelopeRefusal:
    """Mixin for a uvicorn protocol: its invalid-request answer is an OpenAI error."""

    transport: asyncio.Transport
    server_state: ServerState

    def send_400_response(self, msg: str) -> None:
        self.transport.write(invalid_request_bytes(msg, self.server_state.default_headers))
        self.transport.close()


class EnvelopeH11Protocol(_EnvelopeRefusal, H11Protocol):
    """uvicorn's h11 protocol, refusals in the OpenAI envelope."""


@cache
def protocol_class() -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed: h11, as uvicorn's "auto" would pick
        return EnvelopeH11Protocol

    class EnvelopeHttpToolsProtocol(_EnvelopeRefusal, HttpToolsProtocol):
        """uvicorn's httptools protocol, refusals in the OpenAI envelope."""

    return EnvelopeHttpToolsProtocol
