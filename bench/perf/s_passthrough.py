"""Scenario 3: pass-through overhead over calling the upstream directly, and 500 streams.

Targets: ``direct`` (the fake itself), ``ours`` (the proxy, plain model name) and, when
available, ``optillm`` (``--approach none``), all in front of the same fake with no latency
and no pacing, so every millisecond measured is the path's own. For each of streaming and
JSON, at each concurrency, the targets take turns in ``ROUNDS`` rounds (so drift on a
shared machine hits them alike); overhead = target percentile - direct percentile.

Then ``many_streams`` pass-through streams at once through the proxy (the fake paced so
that they are all open together): how many completed, errors, the fake's peak open calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.perf.load import Sample, chat_body, new_client, run_wave
from bench.perf.rig import MODEL, BenchConfig, FakeAdmin
from bench.perf.stats import percentile

CHAT = "/v1/chat/completions"
ROUNDS = 6
WARMUP = 10


async def _overhead(
    cfg: BenchConfig, targets: dict[str, str], stream: bool, concurrency: int
) -> dict[str, Any]:
    body = chat_body(MODEL, stream=stream)
    samples: dict[str, list[Sample]] = {name: [] for name in targets}
    walls: dict[str, float] = dict.fromkeys(targets, 0.0)
    per_round = max(cfg.passthrough_requests // ROUNDS, 1)
    if concurrency > 1:
        per_round = max(per_round, 2 * concurrency)
    async with new_client(concurrency, cfg.request_timeout) as client:
        for url in targets.values():  # warm connections on every path
            await run_wave(client, url + CHAT, body, count=WARMUP, concurrency=concurrency)
        for _ in range(ROUNDS):
            for name, url in targets.items():
                wave = await run_wave(
                    client, url + CHAT, body, count=per_round, concurrency=concurrency
                )
                samples[name] += wave.samples
                walls[name] += wave.wall
    rows: dict[str, Any] = {}
    for name, taken in samples.items():
        totals = [s.total for s in taken if s.ok]
        rows[name] = {
            "requests": len(taken),
            "errors": sum(1 for s in taken if not s.ok),
            "first_errors": [s.error for s in taken if s.error][:3],
            "p50": percentile(totals, 50),
            "p99": percentile(totals, 99),
            "events_per_second": sum(s.events for s in taken if s.ok) / walls[name]
            if walls[name]
            else 0.0,
        }
    direct = rows["direct"]
    for row in rows.values():
        row["overhead_p50"] = row["p50"] - direct["p50"]
        row["overhead_p99"] = row["p99"] - direct["p99"]
    return {"stream": stream, "concurrency": concurrency, "targets": rows}


async def _many_streams(cfg: BenchConfig, admin: FakeAdmin, proxy_url: str) -> dict[str, Any]:
    count = cfg.many_streams
    admin.wait_idle()
    # Headers after 0.5 s, then paced tokens: every stream is open at the same time.
    admin.control(reset=True, latency=0.5, tokens_per_second=100)
    try:
        async with new_client(count, cfg.request_timeout) as client:
            wave = await run_wave(
                client,
                proxy_url + CHAT,
                chat_body(MODEL, stream=True),
                count=count,
                concurrency=count,
            )
        admin.wait_idle(30.0)
        stats = admin.stats()
    finally:
        admin.control(latency=0.0, tokens_per_second=None)
    return {
        "streams": count,
        "completed": wave.completed,
        "errors": wave.errors,
        "first_errors": wave.first_errors(),
        "wall": wave.wall,
        "peak_upstream": stats["max_open_calls"],
        "events": sum(s.events for s in wave.samples if s.ok),
    }


async def run(
    cfg: BenchConfig, upstream_url: str, proxy_url: str, optillm_url: str | None
) -> dict[str, Any]:
    targets = {"direct": upstream_url, "ours": proxy_url}
    if optillm_url is not None:
        targets["optillm"] = optillm_url
    admin = FakeAdmin(upstream_url)
    try:
        cells = [
            await _overhead(cfg, targets, stream, concurrency)
            for stream in (False, True)
            for concurrency in cfg.passthrough_concurrency
        ]
        return {"cells": cells, "many_streams": await _many_streams(cfg, admin, proxy_url)}
    finally:
        admin.close()


def run_sync(
    cfg: BenchConfig, upstream_url: str, proxy_url: str, optillm_url: str | None
) -> dict[str, Any]:
    return asyncio.run(run(cfg, upstream_url, proxy_url, optillm_url))
