"""Scenario 2: many CePO requests at once (quiet streams, preset ``planned``).

For each concurrency level ``c``: ``c`` requests sent together; completed per second
(completed / wall time of the wave), p50 / p95 latency, the fake's peak of open upstream
calls, errors, and the serving process's peak resident memory during the wave.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.perf.load import chat_body, new_client, run_wave
from bench.perf.procs import PeakMemory, Service
from bench.perf.rig import CEPO_MODEL, MODEL, BenchConfig, FakeAdmin
from bench.perf.stats import percentile

CHAT = "/v1/chat/completions"


async def _level(
    cfg: BenchConfig,
    admin: FakeAdmin,
    service: Service,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    concurrency: int,
) -> dict[str, Any]:
    admin.wait_idle(30.0)
    admin.reset()
    with PeakMemory(service) as memory:
        async with new_client(concurrency, cfg.request_timeout) as client:
            wave = await run_wave(
                client,
                service.url + CHAT,
                body,
                count=concurrency,
                concurrency=concurrency,
                headers=headers,
            )
    latencies = [s.total for s in wave.samples if s.ok]
    admin.wait_idle(30.0)
    stats = admin.stats()
    return {
        "concurrency": concurrency,
        "requests": len(wave.samples),
        "completed": wave.completed,
        "errors": wave.errors,
        "first_errors": wave.first_errors(),
        "wall": wave.wall,
        "per_second": wave.completed / wave.wall if wave.wall else 0.0,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "peak_upstream": stats["max_open_calls"],
        "upstream_calls": stats["calls"],
        "peak_rss": memory.peak,
    }


async def run(
    cfg: BenchConfig, upstream_url: str, proxy: Service, optillm: Service | None
) -> dict[str, Any]:
    admin = FakeAdmin(upstream_url)
    try:
        ours = [
            await _level(
                cfg,
                admin,
                proxy,
                chat_body(CEPO_MODEL, stream=True),
                {"x-reasoning-mode": "quiet"},
                level,
            )
            for level in cfg.concurrency_levels
        ]
        theirs = []
        if optillm is not None:
            theirs = [
                await _level(cfg, admin, optillm, chat_body(MODEL, stream=False), None, level)
                for level in cfg.optillm_concurrency_levels
            ]
        return {"ours": ours, "optillm": theirs}
    finally:
        admin.close()


def run_sync(
    cfg: BenchConfig, upstream_url: str, proxy: Service, optillm: Service | None
) -> dict[str, Any]:
    return asyncio.run(run(cfg, upstream_url, proxy, optillm))
