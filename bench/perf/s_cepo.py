"""Scenario 1: one CePO request (preset ``planned``), against the ideal and optillm; then
one of the default preset (``medium``, plan-free), ours only, against its own ideal.

For each side: wall time (median of ``repeats`` requests), time to the first SSE event
(quiet and verbose for ours, ``first_event_samples`` each, the client leaving after the
first event; one streamed request for optillm, which sends nothing before the end),
upstream calls and tokens of one request. Then the sweep of wall time against ``L`` for
the chart (preset ``planned``; the fake's latency changed through ``/_control``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.perf.load import Sample, chat_body, new_client, timed_request
from bench.perf.rig import (
    CEPO_MODEL,
    DEFAULT_PRESET,
    MODEL,
    PLANNED,
    BenchConfig,
    FakeAdmin,
    PresetShape,
)
from bench.perf.stats import median, percentile

CHAT = "/v1/chat/completions"


async def _counted(
    admin: FakeAdmin,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    request_timeout: float,
) -> tuple[Sample, dict[str, Any]]:
    """One request from a quiet upstream; returns the sample and the fake's stats after it
    (the upstream calls and tokens of this request alone).

    The fake's admin routes are called synchronously: nothing else runs on the loop then.
    """
    admin.wait_idle()
    admin.reset()
    async with new_client(1, request_timeout) as client:
        sample = await timed_request(client, url, body, headers=headers)
    admin.wait_idle()
    return sample, admin.stats()


async def direct_call_seconds(cfg: BenchConfig, upstream_url: str, count: int = 5) -> float:
    """Median time of one non-streamed call straight to the fake (what one step costs)."""
    async with new_client(1, cfg.request_timeout) as client:
        samples = [
            await timed_request(client, upstream_url + CHAT, chat_body(MODEL, stream=False))
            for _ in range(count)
        ]
    return median([s.total for s in samples if s.ok])


def cepo_body(preset: PresetShape, *, usage: bool = False) -> dict[str, Any]:
    """A streamed ``cepo-*`` request that runs ``preset`` on the proxy under test."""
    body = chat_body(CEPO_MODEL, stream=True, usage=usage)
    if preset.effort is not None:
        body["reasoning_effort"] = preset.effort
    return body


async def measure_ours(
    cfg: BenchConfig, proxy_url: str, admin: FakeAdmin, preset: PresetShape = PLANNED
) -> dict[str, Any]:
    url = proxy_url + CHAT
    body = cepo_body(preset, usage=True)
    walls: list[float] = []
    calls: list[int] = []
    tokens: list[int] = []
    errors: list[str] = []
    for mode in ("quiet", "verbose"):
        for _ in range(cfg.repeats):
            sample, stats = await _counted(
                admin, url, body, {"x-reasoning-mode": mode}, cfg.request_timeout
            )
            if not sample.ok:
                errors.append(str(sample.error))
                continue
            walls.append(sample.total)
            calls.append(stats["calls"])
            tokens.append(stats["prompt_tokens"] + stats["completion_tokens"])
    first_events: dict[str, list[float]] = {}
    async with new_client(1, cfg.request_timeout) as client:
        for mode in ("quiet", "verbose"):
            values: list[float] = []
            for _ in range(cfg.first_event_samples):
                admin.wait_idle()
                sample = await timed_request(
                    client,
                    url,
                    body,
                    headers={"x-reasoning-mode": mode},
                    stop_after_first_event=True,
                )
                if sample.first_event is not None:
                    values.append(sample.first_event)
                else:
                    errors.append(str(sample.error))
            first_events[mode] = values
    admin.wait_idle(quiet=0.25)  # the abandoned requests' last calls, uncounted
    return {
        "wall": median(walls),
        "walls": walls,
        "calls": median([float(c) for c in calls]),
        "tokens": median([float(t) for t in tokens]),
        "first_event_p50": {m: percentile(v, 50) for m, v in first_events.items()},
        "first_event_p95": {m: percentile(v, 95) for m, v in first_events.items()},
        "first_event_samples": {m: len(v) for m, v in first_events.items()},
        "errors": errors,
    }


async def measure_optillm(cfg: BenchConfig, optillm_url: str, admin: FakeAdmin) -> dict[str, Any]:
    url = optillm_url + CHAT
    walls: list[float] = []
    calls: list[int] = []
    tokens: list[int] = []
    errors: list[str] = []
    for _ in range(cfg.repeats):
        sample, stats = await _counted(
            admin, url, chat_body(MODEL, stream=False), None, cfg.request_timeout
        )
        if not sample.ok:
            errors.append(str(sample.error))
            continue
        walls.append(sample.total)
        calls.append(stats["calls"])
        tokens.append(stats["prompt_tokens"] + stats["completion_tokens"])
    streamed, _ = await _counted(
        admin, url, chat_body(MODEL, stream=True), None, cfg.request_timeout
    )
    if not streamed.ok:
        errors.append(f"stream: {streamed.error}")
    return {
        "wall": median(walls),
        "walls": walls,
        "calls": median([float(c) for c in calls]),
        "tokens": median([float(t) for t in tokens]),
        "first_event_stream": streamed.first_event,
        "stream_total": streamed.total,
        "errors": errors,
    }


async def sweep(
    cfg: BenchConfig, admin: FakeAdmin, proxy_url: str, optillm_url: str | None
) -> list[dict[str, Any]]:
    """Wall time against the fake's latency, for ours and optillm (one request each per L)."""
    rows = []
    try:
        for latency in cfg.sweep_latencies:
            admin.control(latency=latency)
            row: dict[str, Any] = {"latency": latency, "ideal": cfg.ideal(latency)}
            ours, _ = await _counted(
                admin,
                proxy_url + CHAT,
                cepo_body(PLANNED),
                {"x-reasoning-mode": "quiet"},
                cfg.request_timeout,
            )
            row["ours"] = ours.total if ours.ok else None
            if optillm_url is not None:
                theirs, _ = await _counted(
                    admin, optillm_url + CHAT, chat_body(MODEL, stream=False), None,
                    cfg.request_timeout,
                )  # fmt: skip
                row["optillm"] = theirs.total if theirs.ok else None
            rows.append(row)
    finally:
        admin.control(latency=cfg.latency)
    return rows


async def run(
    cfg: BenchConfig, upstream_url: str, proxy_url: str, optillm_url: str | None
) -> dict[str, Any]:
    """The whole scenario; ``optillm_url`` None skips optillm."""
    admin = FakeAdmin(upstream_url)
    try:
        result: dict[str, Any] = {
            "latency": cfg.latency,
            "tokens": cfg.tokens,
            "tokens_per_second": cfg.tokens_per_second,
            "preset": PLANNED.name,
            "critical_path_calls": PLANNED.critical_path_calls,
            "ideal": cfg.ideal(),
            "direct_call": await direct_call_seconds(cfg, upstream_url),
        }
        result["ours"] = await measure_ours(cfg, proxy_url, admin)
        if optillm_url is not None:
            result["optillm"] = await measure_optillm(cfg, optillm_url, admin)
        result["default_preset"] = {
            "preset": DEFAULT_PRESET.name,
            "critical_path_calls": DEFAULT_PRESET.critical_path_calls,
            "ideal": cfg.ideal(preset=DEFAULT_PRESET),
            "ours": await measure_ours(cfg, proxy_url, admin, DEFAULT_PRESET),
        }
        result["sweep"] = await sweep(cfg, admin, proxy_url, optillm_url)
        return result
    finally:
        admin.close()


def run_sync(
    cfg: BenchConfig, upstream_url: str, proxy_url: str, optillm_url: str | None
) -> dict[str, Any]:
    return asyncio.run(run(cfg, upstream_url, proxy_url, optillm_url))
