"""A small HTTP forward proxy on loopback, for the upstream client's ``HTTP_PROXY`` support.

It accepts plain-HTTP proxy requests (absolute-form request targets such as
``POST http://upstream.test/v1/chat/completions HTTP/1.1``) and ``CONNECT`` tunnels (what a
client sends for an ``https`` origin), records each target, and sends the request or the
tunnel on to one fixed loopback origin, whatever host the target names, so that hostnames
need not resolve. The rest of each connection is piped both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ForwardProxy:
    url: str = ""
    #: The absolute request targets received, in order.
    targets: list[str] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _forward_requests(
    head: bytes, client: asyncio.StreamReader, origin: asyncio.StreamWriter, proxy: ForwardProxy
) -> None:
    """``head`` and each later request head from the client, its target rewritten to
    origin-form, then its body (keep-alive connections carry several requests)."""
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            line, _, rest = head.partition(b"\r\n")
            method, target, version = line.decode("latin-1").split(" ")
            proxy.targets.append(target)
            parts = urlsplit(target)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            origin.write(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
            length = 0
            for header in rest.split(b"\r\n"):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                origin.write(await client.readexactly(length))
            await origin.drain()
            head = await client.readuntil(b"\r\n\r\n")
    origin.close()


@contextlib.contextmanager
def forward_proxy(origin_port: int) -> Iterator[ForwardProxy]:
    """Run a forward proxy to ``127.0.0.1:origin_port`` until the ``with`` block ends."""
    proxy = ForwardProxy()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        origin_reader, origin_writer = await asyncio.open_connection("127.0.0.1", origin_port)
        writers.append(origin_writer)
        try:
            first = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        if first.startswith(b"CONNECT "):
            proxy.targets.append(first.split(b" ")[1].decode("latin-1"))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, origin_writer), _pipe(origin_reader, writer))
            return
        await asyncio.gather(
            _forward_requests(first, reader, origin_writer, proxy), _pipe(origin_reader, writer)
        )

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ready.set()
        await stop.wait()
        server.close()
        for writer in writers:
            writer.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        for writer in writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield proxy
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()
