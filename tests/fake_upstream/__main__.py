"""Run the scripted upstream as its own process (for the benchmark and the Docker smoke test).

    python -m tests.fake_upstream --port 9100 --latency 0.05 --tokens-per-second 200 \
        --tokens 64 --personality vllm --models m1,m2

Prints ``fake upstream listening on http://HOST:PORT/v1`` (flushed) once it accepts
connections; ``--port 0`` picks a free port. Stops on SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from typing import Any

import uvicorn

from tests.fake_upstream.personalities import PERSONALITIES
from tests.fake_upstream.server import FakeUpstream


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before headers")
    parser.add_argument("--tokens-per-second", type=float, default=None, help="stream pacing")
    parser.add_argument("--tokens", type=int, default=16, help="words in the default reply")
    parser.add_argument("--personality", choices=sorted(PERSONALITIES), default="openai")
    parser.add_argument("--models", default="fake-model", help="comma-separated model ids")
    parser.add_argument(
        "--history-limit", type=int, default=1000, help="requests kept in the log (memory bound)"
    )
    return parser


class _AnnouncingServer(uvicorn.Server):
    """Prints the URL once the socket accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print(f"fake upstream listening on {self._url}", flush=True)


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    upstream: Any = FakeUpstream(
        personality=args.personality,
        models=[m for m in args.models.split(",") if m],
        default_tokens=args.tokens,
        latency=args.latency,
        tokens_per_second=args.tokens_per_second,
        history_limit=args.history_limit,
    )
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it; without it Nagle + delayed ACK add ~40 ms per keep-alive call.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        upstream, log_level="warning", access_log=False, ws="none", timeout_graceful_shutdown=1
    )
    server = _AnnouncingServer(config, f"http://{args.host}:{port}/v1")
    # uvicorn re-raises SIGTERM / SIGINT after a graceful stop; make that a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
