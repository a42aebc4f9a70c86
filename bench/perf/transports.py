"""``python -m bench.perf.transports``: the upstream HTTP client candidates, side by side.

One run measures each candidate the proxy could use for its upstream calls against the
scripted upstream (a separate process, no latency, unpaced replies), in interleaved rounds so
that the machine's speed swings touch every candidate alike:

* ``httpx2``: httpx2's own transport (httpcore2);
* ``httpx+aiohttp``: httpx with httpx-aiohttp's ``AiohttpTransport``;
* ``httpx``: httpx's own transport (httpcore 1), the reference.

Per candidate: wall time of one call at concurrency 1 (p50 / p99), JSON POST and stream, and
the client process's CPU time per call at concurrency 1 and 32. The numbers go to stdout as
a Markdown table and to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
from httpx_aiohttp import AiohttpTransport

from bench.perf.procs import start_fake

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
Call = Callable[[], Awaitable[None]]


def _clients() -> dict[str, Any]:
    limits = {"max_connections": 64, "max_keepalive_connections": 64}
    return {
        "httpx2": httpx2.AsyncClient(trust_env=False, limits=httpx2.Limits(**limits)),
        "httpx+aiohttp": httpx.AsyncClient(
            trust_env=False, transport=AiohttpTransport(limits=httpx.Limits(**limits))
        ),
        "httpx": httpx.AsyncClient(trust_env=False, limits=httpx.Limits(**limits)),
    }


def _calls(client: Any, url: str) -> dict[str, Call]:
    payload = json.dumps(BODY).encode()
    headers = {"content-type": "application/json"}
    stream_payload = json.dumps({**BODY, "stream": True}).encode()

    async def post_json() -> None:
        response = await client.post(url, content=payload, headers=headers)
        response.raise_for_status()
        response.json()

    async def stream() -> None:
        async with client.stream("POST", url, content=stream_payload, headers=headers) as reply:
            reply.raise_for_status()
            async for _ in reply.aiter_bytes():
                pass

    return {"json": post_json, "stream": stream}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, rounds: int, per_round: int) -> dict[str, Any]:
    clients = _clients()
    walls: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str, int], list[float]] = {}
    try:
        calls = {name: _calls(client, url) for name, client in clients.items()}
        for name in calls:  # warm the pools
            for kind in ("json", "stream"):
                for _ in range(20):
                    await calls[name][kind]()
        for _ in range(rounds):
            for name, kinds in calls.items():
                for kind, call in kinds.items():
                    cpu_start = time.process_time()
                    for _ in range(per_round):
                        started = time.perf_counter()
                        await call()
                        walls.setdefault((name, kind), []).append(time.perf_counter() - started)
                    spent = time.process_time() - cpu_start
                    cpu.setdefault((name, kind, 1), []).append(spent / per_round)
                    cpu_start = time.process_time()
                    batch = per_round * 4
                    for _ in range(batch // 32):
                        await asyncio.gather(*(call() for _ in range(32)))
                    spent = time.process_time() - cpu_start
                    cpu.setdefault((name, kind, 32), []).append(spent / (batch // 32 * 32))
    finally:
        for client in clients.values():
            await client.aclose()
    rows = []
    for name in clients:
        for kind in ("json", "stream"):
            wall = walls[(name, kind)]
            rows.append(
                {
                    "client": name,
                    "path": kind,
                    "calls": len(wall),
                    "p50_ms": statistics.median(wall) * 1000,
                    "p99_ms": _percentile(wall, 0.99) * 1000,
                    "cpu_ms_c1": statistics.median(cpu[(name, kind, 1)]) * 1000,
                    "cpu_ms_c32": statistics.median(cpu[(name, kind, 32)]) * 1000,
                }
            )
    return {"rows": rows, "rounds": rounds, "per_round": per_round}


def _table(result: dict[str, Any]) -> str:
    lines = [
        "| client | path | calls | p50 | p99 | CPU/call c=1 | CPU/call c=32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['client']} | {row['path']} | {row['calls']} | {row['p50_ms']:.2f} ms "
            f"| {row['p99_ms']:.2f} ms | {row['cpu_ms_c1']:.2f} ms | {row['cpu_ms_c32']:.2f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.transports", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=64, help="words per reply")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs:
        fake = start_fake(
            "fake", Path(logs), latency=0.0, tokens=args.tokens, tokens_per_second=None, model="m"
        )
        with fake:
            url = f"{fake.url}/v1/chat/completions"
            result = asyncio.run(_measure(url, args.rounds, args.per_round))
    result["tokens"] = args.tokens
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
