"""LeanTransport against real loopback sockets.

Most tests script a raw asyncio server per test (:class:`ScriptedServer`), so faults are
byte-exact; a few run against the project's scripted upstream. Every test checks that no
task is left behind (autouse fixture) and most that the server sees every connection closed
after the client's ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from server.upstream.http11 import LeanTransport
from server.upstream.http11.connection import HIGH_WATER
from tests.fake_upstream import FakeUpstream

#: Upper bound for anything a test waits for.
WAIT = 2.0


# -- the scripted server ---------------------------------------------------------------


@dataclass
class ServerRequest:
    method: bytes
    target: bytes
    headers: dict[bytes, bytes]
    body: bytes


@dataclass
class Peer:
    """One accepted connection, as the handler sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    index: int
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def read_request(self) -> ServerRequest | None:
        """The next request, or ``None`` once the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        line, *header_lines = head[:-4].split(b"\r\n")
        method, target, _ = line.split(b" ", 2)
        headers = {}
        for header in header_lines:
            name, _, value = header.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = await self.reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            pieces = []
            while size := int((await self.reader.readline()).strip(), 16):
                pieces.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            body = b"".join(pieces)
        else:
            body = b""
        return ServerRequest(method, target, headers, body)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_gone(self) -> None:
        """Wait until the client closes the connection, then set :attr:`gone`."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.gone.set()

    def reset(self) -> None:
        """Close with a TCP reset instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


async def until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` every 5 ms until it holds (at most :data:`WAIT` seconds)."""
    async with asyncio.timeout(WAIT):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


class ScriptedServer:
    """``asyncio.start_server`` on 127.0.0.1, port 0, one ``handler(peer)`` per connection."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.peers: list[Peer] = []
        self.open = 0
        self.peak = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        return len(self.peers)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=WAIT)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(reader, writer, len(self.peers))
        self.peers.append(peer)
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self.handler(peer)
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.transport.abort()
            self._tasks.discard(task)

    async def wait_all_closed(self) -> None:
        """Wait until every connection has been closed by the client."""
        await until(lambda: self.open == 0)


def response(body: bytes = b"{}", *, status: bytes = b"200 OK", headers: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n" % len(body) + headers + b"\r\n" + body
    )


def echo(request: ServerRequest) -> bytes:
    """A JSON description of the request."""
    body = json.dumps(
        {
            "method": request.method.decode(),
            "target": request.target.decode(),
            "headers": {k.decode(): v.decode() for k, v in request.headers.items()},
            "body": request.body.decode(),
        }
    ).encode()
    return response(body)


async def serve_echo(peer: Peer) -> None:
    """Answer every request on the connection with :func:`echo`, until the client closes."""
    while (request := await peer.read_request()) is not None:
        await peer.send(echo(request))


@contextlib.asynccontextmanager
async def lean_client(
    max_connections: int = 10, **options: object
) -> AsyncIterator[tuple[httpx.AsyncClient, LeanTransport]]:
    transport = LeanTransport(max_connections=max_connections, **options)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, timeout=WAIT) as client:
        yield client, transport
    assert transport.pool.open_connections == 0


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert not leaked, leaked


# -- round trips -----------------------------------------------------------------------


async def test_json_post_round_trip() -> None:
    async with ScriptedServer(serve_echo) as server, lean_client() as (client, _):
        reply = await client.post(server.url + "/v1/chat/completions?x=1", json={"a": "é"})
        assert reply.status_code == 200
        assert reply.http_version == "HTTP/1.1"
        assert reply.reason_phrase == "OK"
        seen = reply.json()
        assert seen["method"] == "POST"
        assert seen["target"] == "/v1/chat/completions?x=1"
        assert seen["headers"]["host"] == server.url.removeprefix("http://")
        assert seen["headers"]["content-type"] == "application/json"
        assert json.loads(seen["body"]) == {"a": "é"}
        await client.aclose()
        await server.wait_all_closed()


async def test_round_trip_through_the_scripted_upstream(upstream: FakeUpstream) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    async with lean_client() as (client, _):
        reply = await client.post(upstream.base_url + "/chat/completions", json=body)
        assert reply.json()["choices"][0]["message"]["content"]
        events = []
        async with client.stream(
            "POST", upstream.base_url + "/chat/completions", json={**body, "stream": True}
        ) as streamed:
            async for line in streamed.aiter_lines():
                if line.startswith("data: "):
                    events.append(line.removeprefix("data: "))
        assert events[-1] == "[DONE]"
        assert len(events) > 2
    assert upstream.wait_until_idle()


async def test_head_request_has_no_body_and_its_connection_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        for _ in range(2):
            reply = await client.head(server.url)
            assert reply.status_code == 200
            assert reply.content == b""
        assert server.connections == 2


async def test_interim_1xx_responses_are_skipped() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + response(b"[1]"))
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        reply = await client.get(server.url)
        assert reply.status_code == 200
        assert "link" not in reply.headers
        assert reply.json() == [1]


async def test_gzip_content_encoding_is_decoded_by_httpx() -> None:
    payload = gzip.compress(json.dumps({"ok": True}).encode())

    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(response(payload, headers=b"content-encoding: gzip\r\n"))

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        assert (await client.get(server.url)).json() == {"ok": True}


async def test_chunked_request_body_from_an_async_generator() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for piece in (b"hello ", b"", b"streamed ", b"world"):
            yield piece

    async with ScriptedServer(serve_echo) as server, lean_client() as (client, _):
        seen = (await client.post(server.url, content=parts())).json()
        assert seen["headers"]["transfer-encoding"] == "chunked"
        assert seen["body"] == "hello streamed world"


async def test_request_with_an_unread_byte_stream() -> None:
    async with ScriptedServer(serve_echo) as server:
        transport = LeanTransport(max_connections=1)
        request = httpx.Request(
            "PUT", server.url, headers={"content-length": "3"}, stream=httpx.ByteStream(b"abc")
        )
        reply = await transport.handle_async_request(request)
        await reply.aread()
        assert json.loads(reply.content)["body"] == "abc"
        await transport.aclose()


async def test_bytes_after_the_end_of_a_response_retire_the_connection() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(response(b"[1]") + response(b"[2]"))

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        assert (await client.get(server.url)).json() == [1]
        assert (await client.get(server.url)).json() == [1]
        assert server.connections == 2


async def test_header_values_with_line_breaks_are_refused() -> None:
    async with ScriptedServer(serve_echo) as server, lean_client() as (client, _):
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url, headers={"x-evil": "a\r\nx-injected: 1"})
        assert (await client.get(server.url)).status_code == 200


# -- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_stream_chunks_arrive_before_the_rest_is_sent(framing: str) -> None:
    first, second = b"data: one\n\n", b"data: two\n\n"
    go_on = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        if framing == "chunked":
            head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            await peer.send(head + b"%x\r\n%b\r\n" % (len(first), first))
            await go_on.wait()
            await peer.send(b"%x\r\n%b\r\n0\r\n\r\n" % (len(second), second))
        else:
            head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (len(first) + len(second))
            await peer.send(head + first)
            await go_on.wait()
            await peer.send(second)
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        async with client.stream("GET", server.url) as streamed:
            pieces = streamed.aiter_raw()
            assert await anext(pieces) == first
            go_on.set()
            assert await anext(pieces) == second
            with pytest.raises(StopAsyncIteration):
                await anext(pieces)
        assert transport.pool.idle_connections == 1


async def test_body_delimited_by_close_ends_at_eof() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
        await peer.send(b"part two")
        peer.writer.close()

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        assert (await client.get(server.url)).content == b"part one, part two"
        assert transport.pool.open_connections == 0


async def test_large_body_is_streamed_with_backpressure() -> None:
    total = 16 * 1024 * 1024
    piece = b"x" * (1024 * 1024)
    written = 0

    async def handler(peer: Peer) -> None:
        nonlocal written
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        while written < total:
            await peer.send(piece)
            written += len(piece)
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        async with client.stream("GET", server.url) as streamed:
            await asyncio.sleep(0.3)  # not reading: the transport pauses, the server blocks
            assert written < total
            sizes = [len(chunk) async for chunk in streamed.aiter_raw()]
        assert sum(sizes) == total
        # Coalesced, yet never more than the high-water mark plus one socket read.
        assert max(sizes) <= HIGH_WATER + 256 * 1024
        assert len(sizes) < total // 4096


# -- pooling ---------------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection() -> None:
    async with ScriptedServer(serve_echo) as server, lean_client() as (client, transport):
        for index in range(20):
            reply = await client.post(server.url, json={"n": index})
            assert json.loads(reply.json()["body"]) == {"n": index}
        assert server.connections == 1
        assert transport.pool.idle_connections == 1
        await client.aclose()
        await server.wait_all_closed()


async def test_connection_close_response_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response(headers=b"connection: close\r\n"))
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        for _ in range(3):
            assert (await client.get(server.url)).status_code == 200
        assert server.connections == 3


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        await peer.send(echo(request))
        peer.writer.close()  # an idle timeout on the server's side

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        assert (await client.get(server.url)).status_code == 200
        await until(lambda: transport.pool.open_connections == 0)  # the EOF removed it
        assert (await client.get(server.url)).status_code == 200
        assert server.connections == 2


async def test_connections_idle_past_keepalive_expiry_are_not_reused() -> None:
    async with (
        ScriptedServer(serve_echo) as server,
        lean_client(keepalive_expiry=0.05) as (client, _),
    ):
        await client.get(server.url)
        await client.get(server.url)
        assert server.connections == 1
        await asyncio.sleep(0.1)
        await client.get(server.url)
        assert server.connections == 2
        await until(lambda: server.open == 1)  # the expired connection was closed


async def test_full_pool_evicts_an_idle_connection_of_another_origin() -> None:
    async with (
        ScriptedServer(serve_echo) as first,
        ScriptedServer(serve_echo) as second,
        lean_client(max_connections=1) as (client, transport),
    ):
        await client.get(first.url)
        await client.get(second.url)
        await first.wait_all_closed()
        assert transport.pool.open_connections == 1
        await client.get(second.url)
        assert second.connections == 1


async def test_pool_limit_bounds_concurrent_connections() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await asyncio.sleep(0.1)
            await peer.send(response())

    async with ScriptedServer(handler) as server, lean_client(max_connections=2) as (client, _):
        replies = await asyncio.gather(*(client.get(server.url) for _ in range(3)))
        assert [reply.status_code for reply in replies] == [200, 200, 200]
        assert server.peak == 2
        assert server.connections == 2


async def test_waiting_for_a_connection_times_out() -> None:
    async with (
        ScriptedServer(serve_echo) as server,
        lean_client(max_connections=1) as (client, transport),
    ):
        async with client.stream("GET", server.url):
            with pytest.raises(httpx.PoolTimeout):
                await client.get(server.url, timeout=httpx.Timeout(WAIT, pool=0.1))
        assert (await client.get(server.url)).status_code == 200
        assert transport.pool.open_connections == 1


async def test_hundred_concurrent_requests_complete() -> None:
    async with (
        ScriptedServer(serve_echo) as server,
        lean_client(max_connections=30) as (client, _),
    ):
        replies = await asyncio.gather(
            *(client.post(server.url, json={"n": n}) for n in range(100))
        )
        assert [json.loads(reply.json()["body"])["n"] for reply in replies] == list(range(100))
        assert server.peak <= 30
        await client.aclose()
        await server.wait_all_closed()


# -- failures --------------------------------------------------------------------------


async def test_refused_connection_raises_connect_error() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    async with lean_client() as (client, transport):
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
        assert transport.pool.open_connections == 0


async def test_unsupported_scheme_and_closed_transport() -> None:
    transport = LeanTransport(max_connections=1)
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", "http://127.0.0.1:1/"))


async def test_unaccepted_connection_raises_connect_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # Fill the accept queue: further SYNs are dropped, so connecting hangs.
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            async with lean_client() as (client, transport):
                with pytest.raises(httpx.ConnectTimeout):
                    await client.get(
                        f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(WAIT, connect=0.2)
                    )
                assert transport.pool.open_connections == 0
        finally:
            for filler in fillers:
                filler.close()


async def test_server_that_does_not_read_raises_write_timeout() -> None:
    done = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await done.wait()  # never reads the request

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        with pytest.raises(httpx.WriteTimeout):
            await client.post(
                server.url,
                content=b"x" * (32 * 1024 * 1024),
                timeout=httpx.Timeout(WAIT, write=0.2),
            )
        assert transport.pool.open_connections == 0
        done.set()


#: A head and part of the body it announces: a stall after it is a stall mid-body.
HALF_A_BODY = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf"


@pytest.mark.parametrize(
    "sent_before_stall", [b"", HALF_A_BODY], ids=["before-the-head", "mid-body"]
)
async def test_a_stall_raises_read_timeout(sent_before_stall: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        if sent_before_stall:
            await peer.send(sent_before_stall)
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=httpx.Timeout(WAIT, read=0.1))
        await server.wait_all_closed()
        assert transport.pool.open_connections == 0


async def test_disconnect_before_any_byte_raises_remote_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get(server.url)


async def test_eof_mid_body_raises_remote_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf")

    async with ScriptedServer(handler) as server, lean_client() as (client, _):
        async with client.stream("GET", server.url) as streamed:
            received = b""
            with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
                async for chunk in streamed.aiter_raw():
                    received += chunk
        assert received == b"half"


async def test_reset_mid_body_raises_read_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nhalf\r\n")
        await asyncio.sleep(0.05)
        peer.reset()

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        with pytest.raises(httpx.ReadError):
            await client.get(server.url)
        assert transport.pool.open_connections == 0


async def test_malformed_status_line_raises_remote_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await peer.wait_gone()

    async with ScriptedServer(handler) as server, lean_client() as (client, transport):
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get(server.url)
        await server.wait_all_closed()
        assert transport.pool.open_connections == 0


# -- closing and cancelling ------------------------------------------------------------


async def test_closing_the_response_mid_body_disconnects_and_frees_the_slot() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.read_request()
            await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await peer.wait_gone()
        else:
            await serve_echo(peer)

    async with ScriptedServer(handler) as server, lean_client(max_connections=1) as (client, _):
        async with client.stream("GET", server.url) as streamed:
            assert await anext(streamed.aiter_raw()) == b"first"
        async with asyncio.timeout(1.0):
            await server.peers[0].gone.wait()
        reply = await client.get(server.url, timeout=httpx.Timeout(WAIT, pool=0.5))
        assert reply.status_code == 200


async def test_cancelling_while_waiting_for_the_head_disconnects_and_frees_the_slot() -> None:
    request_seen = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.read_request()
            request_seen.set()
            await peer.wait_gone()
        else:
            await serve_echo(peer)

    async with ScriptedServer(handler) as server, lean_client(max_connections=1) as (client, _):
        waiting = asyncio.create_task(client.get(server.url))
        async with asyncio.timeout(WAIT):
            await request_seen.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with asyncio.timeout(1.0):
            await server.peers[0].gone.wait()
        reply = await client.get(server.url, timeout=httpx.Timeout(WAIT, pool=0.5))
        assert reply.status_code == 200


async def test_cancelling_while_waiting_for_a_slot_leaves_the_queue_clean() -> None:
    async with (
        ScriptedServer(serve_echo) as server,
        lean_client(max_connections=1) as (client, transport),
    ):
        async with client.stream("GET", server.url):
            queued = asyncio.create_task(client.get(server.url))
            await asyncio.sleep(0.05)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
        assert (await client.get(server.url, timeout=httpx.Timeout(WAIT, pool=0.5))).is_success
        assert transport.pool.open_connections == 1


async def test_aclose_closes_every_connection() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await asyncio.sleep(0.05)
            await peer.send(response())

    async with ScriptedServer(handler) as server:
        async with lean_client(max_connections=5) as (client, transport):
            await asyncio.gather(*(client.get(server.url) for _ in range(5)))
            assert transport.pool.idle_connections == 5
            await client.aclose()
            assert transport.pool.open_connections == 0
        await server.wait_all_closed()
        assert server.connections == 5


# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    yield cert, key


async def test_https_against_a_self_signed_server(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with ScriptedServer(serve_echo, tls=server_context) as server:
        assert server.url.startswith("https://")
        async with lean_client(ssl_context=client_context) as (client, _):
            for index in range(3):
                reply = await client.post(server.url + "/tls", json={"n": index})
                assert reply.json()["target"] == "/tls"
            assert server.connections == 1
            await client.aclose()
            await server.wait_all_closed()
        async with lean_client() as (client, _):  # default trust store: not trusted
            with pytest.raises(httpx.ConnectError):
                await client.get(server.url)


# -- uvloop ----------------------------------------------------------------------------

#: Scenarios run again under uvloop, which uvicorn would pick where it is installed (the
#: proxy pins asyncio's loop, but the transport is meant for either; uvloop's transports are
#: not subclasses of asyncio's and buffer, pause and abort in their own way). Skipped where
#: uvloop is not installed (it is not a dependency).
UVLOOP_SCENARIOS: list[Callable[[], Awaitable[None]]] = [
    test_json_post_round_trip,
    test_sequential_requests_reuse_one_connection,
    test_idle_connection_closed_by_the_server_is_replaced,
    test_large_body_is_streamed_with_backpressure,
    test_reset_mid_body_raises_read_error,
    functools.partial(test_a_stall_raises_read_timeout, HALF_A_BODY),
    test_closing_the_response_mid_body_disconnects_and_frees_the_slot,
    test_cancelling_while_waiting_for_the_head_disconnects_and_frees_the_slot,
    test_aclose_closes_every_connection,
]


def _scenario_id(scenario: Callable[[], Awaitable[None]]) -> str:
    function = scenario.func if isinstance(scenario, functools.partial) else scenario
    return str(function.__name__)[5:]


@pytest.mark.parametrize("scenario", UVLOOP_SCENARIOS, ids=_scenario_id)
def test_under_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def checked() -> None:
        before = asyncio.all_tasks()
        await scenario()
        await asyncio.sleep(0)
        assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(checked())


def test_https_under_uvloop(certificate: tuple[Path, Path]) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_https_against_a_self_signed_server(certificate))
