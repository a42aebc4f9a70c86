"""One HTTP response as the fake writes it, down to resetting the TCP connection.

``Exchange`` wraps the ASGI ``send`` callable. Everything goes through ASGI except
``reset()``, which reaches uvicorn's transport (``send.__self__.transport``: the app must be
the outermost ASGI callable under uvicorn's h11 protocol, which ``serve_in_thread`` and the
CLI guarantee) to close the socket with ``SO_LINGER`` 0, so the peer sees a TCP reset
instead of a clean end of stream.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

from starlette.types import Send

from tests.fake_upstream.recording import RecordedRequest, Recorder

_RESET_WAIT_SECONDS = 1.0
#: Time for the peer to read what was sent before the reset (a reset may discard unread data).
_DRAIN_GRACE_SECONDS = 0.05


class Exchange:
    """The response side of one request: status, headers, body chunks, or a reset."""

    def __init__(self, send: Send, record: RecordedRequest, recorder: Recorder) -> None:
        self._send = send
        self.record = record
        self._recorder = recorder
        self.started = False
        #: Set by ``reset()``: the connection was closed by the fault, not by the client.
        self.aborted = False

    async def start(self, status: int, headers: dict[str, str]) -> None:
        self.started = True
        self.record.status = status
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
        )

    async def body(self, data: bytes, *, more: bool = True) -> None:
        """Send body bytes; the last part (``more=False``) first closes the record.

        The record is closed before the final write so that a client holding the whole
        response already sees the call counted as finished.
        """
        if not more:
            status = self.record.status or 200
            self._recorder.close(self.record, "completed" if status < 400 else "error")
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def chunk(self, data: bytes) -> None:
        """Send one SSE event (counted in ``RecordedRequest.chunks_sent``)."""
        await self.body(data)
        self._recorder.note_chunk(self.record)

    async def end(self) -> None:
        await self.body(b"", more=False)

    async def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        await self.start(
            status,
            {
                "content-type": "application/json",
                "content-length": str(len(data)),
                **(headers or {}),
            },
        )
        await self.body(data, more=False)

    async def reset(self) -> None:
        """Abort the connection with a TCP reset; returns once uvicorn has seen it close."""
        cycle = getattr(self._send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        # asyncio's or uvloop's transport (uvloop's is not an asyncio.Transport subclass).
        if transport is None or not hasattr(transport, "abort"):
            raise RuntimeError("reset() needs the app to run directly under uvicorn")
        if self.started:
            for _ in range(200):
                if transport.get_write_buffer_size() == 0:
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(_DRAIN_GRACE_SECONDS)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.aborted = True
        self._recorder.close(self.record, "error")
        transport.abort()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RESET_WAIT_SECONDS
        while not getattr(cycle, "disconnected", True) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # uvicorn exposes no event for "connection lost"
