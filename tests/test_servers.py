"""The loopback test servers themselves (``tests/servers.py``): nothing they accepted
outlives them.

A socket left open when a server's loop ends is reported as unclosed at some later garbage
collection, inside whichever test runs then; with warnings as errors that test fails for
something it did not do.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
import warnings

from starlette.types import Receive, Scope, Send

from tests.servers import serve_in_thread


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _connect_until(stop: threading.Event, port: int, clients: list[socket.socket]) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):  # refused once the server stops listening
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))


def test_connections_accepted_while_shutting_down_are_closed() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(10):
            stop = threading.Event()
            clients: list[socket.socket] = []
            with serve_in_thread(_ok, lifespan="off") as url:
                port = int(url.rsplit(":", 1)[1])
                hammer = threading.Thread(target=_connect_until, args=(stop, port, clients))
                hammer.start()
                time.sleep(0.05)  # the server stops while connections keep arriving
            stop.set()
            hammer.join()
            for client in clients:
                client.close()
        gc.collect()
    unclosed = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
