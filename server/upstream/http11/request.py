"""Writing an ``httpx.Request`` to a :class:`Connection` as HTTP/1.1.

Contract: the head is the request line plus ``request.headers.raw`` exactly as httpx set
them (Host, Content-Length or Transfer-Encoding included). A byte body goes out in the same
``write`` as the head when it is small; a streamed body is written piece by piece, framed
with chunked encoding when the headers say ``Transfer-Encoding: chunked``. Each write waits
for the socket's buffer to drain (``httpx.WriteTimeout``). Header values holding CR or LF
raise ``httpx.LocalProtocolError`` (no header injection).
"""

from __future__ import annotations

from typing import Final

import httpx

from server.upstream.http11.connection import Connection

#: Bodies up to this size are joined to the head and sent in one write.
_JOIN_LIMIT: Final = 64 * 1024


def request_head(request: httpx.Request) -> bytes:
    """The request line and headers, ending with the blank line."""
    raw_headers = request.headers.raw
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in raw_headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    line_ends = len(raw_headers) + 2
    if head.count(b"\n") != line_ends or head.count(b"\r") != line_ends:
        raise httpx.LocalProtocolError("CR or LF inside the request line or a header")
    return head


def _is_chunked(request: httpx.Request) -> bool:
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


async def send_request(
    connection: Connection, request: httpx.Request, write_timeout: float | None
) -> None:
    """Write the whole request (head and body) to ``connection``."""
    head = request_head(request)
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        try:
            body = request.content
        except httpx.RequestNotRead:  # built with ``stream=ByteStream(...)``
            body = await request.aread()
        if len(body) <= _JOIN_LIMIT:
            connection.write(head + body)
        else:
            connection.write(head)
            connection.write(body)
        await connection.drain(write_timeout)
        return
    if not isinstance(stream, httpx.AsyncByteStream):
        raise RuntimeError("LeanTransport needs an async request body")
    chunked = _is_chunked(request)
    connection.write(head)
    async for part in stream:
        if not part:
            continue
        if chunked:
            connection.write(b"%x\r\n%b\r\n" % (len(part), part))
        else:
            connection.write(part)
        await connection.drain(write_timeout)
    if chunked:
        connection.write(b"0\r\n\r\n")
    await connection.drain(write_timeout)
