"""Real loopback HTTP servers for tests: any ASGI app under uvicorn in a background thread.

``serve_in_thread`` is the one way tests run a server (the scripted upstream, the proxy under
test). The server gets its own event loop in its own thread, so the test may talk to it with a
synchronous client (``openai.OpenAI``, ``httpx.Client``) or from its own event loop with an async
one, and many servers may run in one session. Only 127.0.0.1 / localhost is ever bound; the port
is chosen by the kernel (a socket pre-bound to port 0), so there are no port races.

``unused_loopback_url`` gives a URL on which nothing listens: a connect attempt is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

#: Seconds to wait for a server to start answering before giving up.
STARTUP_TIMEOUT = 10.0
#: Seconds uvicorn waits for in-flight responses at shutdown before cancelling them.
GRACEFUL_SHUTDOWN_TIMEOUT = 1.0
#: Seconds to wait for the server thread to finish after asking it to stop.
JOIN_TIMEOUT = 10.0

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def _bind_loopback(host: str) -> socket.socket:
    if host not in _LOOPBACK_HOSTS:
        raise ValueError(f"tests only bind loopback addresses, not {host!r}")
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it; without it Nagle + delayed ACK add ~40 ms per keep-alive call.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, *, host: str = "127.0.0.1", **uvicorn_kwargs: Any
) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the ``with`` block ends.

    Yields the base URL ``"http://127.0.0.1:PORT"`` once the server accepts connections and
    the app's lifespan startup has completed. On exit the server is asked to stop; responses
    still running after ``GRACEFUL_SHUTDOWN_TIMEOUT`` seconds are cancelled, and the thread is
    joined (bounded by ``JOIN_TIMEOUT``; a server that will not stop is force-exited and
    reported with ``RuntimeError``). A server that fails to start (lifespan error, exception)
    raises ``RuntimeError`` from the ``with`` statement.

    ``uvicorn_kwargs`` go to ``uvicorn.Config`` (for example ``lifespan="off"``,
    ``timeout_keep_alive=1``); defaults here: log level warning, no websockets, no access log.
    """
    sock = _bind_loopback(host)
    port = sock.getsockname()[1]
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "ws": "none",
        "lifespan": "auto",
        "loop": "asyncio",  # as `cepo-proxy serve` runs (server/cli.py)
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_TIMEOUT,
    }
    options.update(uvicorn_kwargs)
    config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_serve_then_close(server, sock))
        except BaseException as exc:  # SystemExit from a failed lifespan startup, too
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"server on port {port} failed to start: {failure!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server on port {port} did not start in {STARTUP_TIMEOUT}s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(JOIN_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(JOIN_TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise RuntimeError(f"server on port {port} did not stop within {2 * JOIN_TIMEOUT}s")


async def _serve_then_close(server: uvicorn.Server, sock: socket.socket) -> None:
    """``server.serve``, then close the connections it accepted while shutting down.

    uvicorn asks only the connections open when its shutdown begins to close; one accepted
    after that (a client connecting as the test ends) would outlive the loop, and its socket
    would be reported unclosed at some later garbage collection, in another test.
    """
    try:
        await server.serve(sockets=[sock])
    finally:
        for _ in range(3):  # accepts in progress get their transports and protocols
            await asyncio.sleep(0)
        for connection in list(server.server_state.connections):
            connection.transport.close()
        await asyncio.sleep(0)  # the transports close their sockets


def unused_loopback_url() -> str:
    """Return ``"http://127.0.0.1:PORT"`` for a port nothing listens on (connects are refused).

    The port was free a moment ago; another process could take it, which is unlikely enough
    on a test machine for a refused-connection test.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
