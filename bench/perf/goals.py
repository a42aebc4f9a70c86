"""The performance goals (issues 7 and 16, and the plan-free default preset's against its
own ideal) and whether one run's numbers meet them.

:func:`evaluate` returns one :class:`Verdict` per goal, in the issues' order: ``met``,
``not met`` or ``not measured`` (a scenario or optillm left out of the run), with the
measured value in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.perf.rig import DEFAULT_PRESET, PLANNED
from bench.perf.stats import fmt_ratio, mb, ms, secs

MB = 10**6


@dataclass(frozen=True)
class Verdict:
    goal: str
    status: str  # "met" | "not met" | "not measured"
    measured: str


def _check(goal: str, value: float | None, ok: bool, measured: str) -> Verdict:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Verdict(goal, "not measured", "n/a")
    return Verdict(goal, "met" if ok else "not met", measured)


def _get(data: dict[str, Any], *path: str | int) -> Any:
    node: Any = data
    for key in path:
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if in_dict or in_list:
            node = node[key]
        else:
            return None
    return node


def _within_ideal(goal: str, run: dict[str, Any], limit: float) -> Verdict:
    """Whether ``run`` (``{"ours": {"wall"}, "ideal"}``) took at most ``limit`` x its ideal."""
    wall, ideal = _get(run, "ours", "wall"), _get(run, "ideal")
    value = wall / ideal if wall and ideal else None
    return _check(
        goal,
        value,
        value is not None and value <= limit,
        f"{fmt_ratio(value or math.nan)} ({secs(wall or math.nan)} vs {secs(ideal or math.nan)})",
    )


def evaluate(results: dict[str, Any]) -> list[Verdict]:
    s1 = results.get("cepo") or {}
    planned = f"CePO `{PLANNED.name}`"
    verdicts = [
        _within_ideal(
            f"{planned} wall time <= 1.1x its ideal ({PLANNED.critical_path_calls} calls)", s1, 1.1
        ),
        _within_ideal(
            f"CePO default preset (`{DEFAULT_PRESET.name}`, plan-free) wall time <= 1.1x its "
            f"ideal ({DEFAULT_PRESET.critical_path_calls} calls)",
            s1.get("default_preset") or {},
            1.1,
        ),
    ]
    ours_wall = _get(s1, "ours", "wall")
    theirs_wall = _get(s1, "optillm", "wall")
    value = ours_wall / theirs_wall if ours_wall and theirs_wall else None
    verdicts.append(
        _check(
            f"{planned} wall time <= 0.5x optillm's",
            value,
            value is not None and value <= 0.5,
            f"{fmt_ratio(value or math.nan)} ({secs(ours_wall or math.nan)} vs "
            f"{secs(theirs_wall or math.nan)})",
        )
    )
    ours_calls, theirs_calls = _get(s1, "ours", "calls"), _get(s1, "optillm", "calls")
    value = ours_calls / theirs_calls if ours_calls and theirs_calls else None
    verdicts.append(
        _check(
            "Upstream calls <= 0.6x optillm's",
            value,
            value is not None and value <= 0.6,
            f"{fmt_ratio(value or math.nan)} ({ours_calls} vs {theirs_calls})",
        )
    )
    for mode in ("quiet", "verbose"):
        value = _get(s1, "ours", "first_event_p95", mode)
        verdicts.append(
            _check(
                f"First SSE event < 50 ms at p95 ({mode})",
                value,
                value is not None and value < 0.05,
                f"{ms(value or math.nan)} p95",
            )
        )
    for ours in _get(results, "concurrency", "ours") or []:
        if ours["concurrency"] != 32:
            continue
        value = ours["per_second"]
        verdicts.append(
            _check(
                "32 concurrent CePO requests at >= 15 completed/s",
                value,
                value >= 15.0 and ours["errors"] == 0,
                f"{value:.2f}/s, {ours['errors']} errors",
            )
        )
    for cell in _get(results, "passthrough", "cells") or []:
        if cell["concurrency"] != 1:
            continue
        kind = "stream" if cell["stream"] else "JSON"
        for stat, limit in (("p50", 0.0025), ("p99", 0.006)):
            value = _get(cell, "targets", "ours", f"overhead_{stat}")
            verdicts.append(
                _check(
                    f"Pass-through adds <= {limit * 1000:g} ms {stat} at concurrency 1 ({kind})",
                    value,
                    value is not None and value <= limit,
                    f"{ms(value if value is not None else math.nan)}",
                )
            )
    many = _get(results, "passthrough", "many_streams")
    if many is not None:
        ok = many["errors"] == 0 and many["completed"] == many["streams"]
        verdicts.append(
            Verdict(
                f"{many['streams']} concurrent pass-through streams, no error",
                "met" if ok else "not met",
                f"{many['completed']} completed, {many['errors']} errors",
            )
        )
    else:
        verdicts.append(Verdict("Concurrent pass-through streams, no error", "not measured", ""))
    # Judged where users run it (the runtime-only environment) when it was measured.
    env = "ours_runtime" if _get(results, "footprint", "ours_runtime") else "ours"
    idle = _get(results, "footprint", env, "rss_idle")
    verdicts.append(
        _check(
            "Idle memory < 100 MB",
            idle,
            idle is not None and idle < 100 * MB,
            mb(idle or math.nan),
        )
    )
    start = _get(results, "footprint", env, "start_seconds")
    verdicts.append(
        _check(
            "Start-up < 1.5 s",
            start,
            start is not None and start < 1.5,
            secs(start if start is not None else math.nan),
        )
    )
    return verdicts
