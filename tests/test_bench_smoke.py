"""The performance benchmark cannot rot: a tiny run end to end, and its pure parts.

The full benchmark (``python -m bench``) stays out of the test run; here scenario 1 runs
with a 20 ms upstream, one request per mode and preset (``planned``, and the default
``medium``) and no optillm, in separate processes as the real run does, and the report it
writes is checked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.perf import cli
from bench.perf.goals import evaluate
from bench.perf.report import END, START, render, write_section
from bench.perf.stats import percentile

DEFAULT_GOAL = "CePO default preset (`medium`, plan-free) wall time <= 1.1x its ideal (3 calls)"


def test_quick_scenario_one_end_to_end(tmp_path: Path) -> None:
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n\n## Accuracy\n\nkept as it is\n")
    status = cli.main(
        [
            "--quick",
            "--scenarios",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--results",
            str(results_md),
            "--chart",
            str(tmp_path / "chart.png"),
            "--notes",
            str(tmp_path / "no-notes.md"),
        ]
    )
    assert status == 0
    raw = json.loads((tmp_path / "out" / "perf.json").read_text())
    ours = raw["cepo"]["ours"]
    assert ours["errors"] == []
    assert ours["calls"] == 27  # the planned preset's call graph, counted at the fake
    assert 0 < ours["wall"] < 10
    assert ours["first_event_samples"] == {"quiet": 3, "verbose": 3}
    assert ours["tokens"] > 0
    default = raw["cepo"]["default_preset"]
    assert default["preset"] == "medium" and default["critical_path_calls"] == 3
    assert math.isclose(default["ideal"], 3 * (0.02 + 8 / 1000))
    assert default["ours"]["errors"] == []
    assert default["ours"]["calls"] == 27  # 3 x 7 samples, then refine and final each
    assert default["ours"]["tokens"] < ours["tokens"]  # no plan in any prompt
    assert 0 < default["ours"]["wall"] < 10
    assert default["ours"]["first_event_samples"] == {"quiet": 3, "verbose": 3}
    text = results_md.read_text()
    assert "## Accuracy\n\nkept as it is" in text
    section = text[text.index(START) : text.index(END)]
    assert "### Goals" in section
    assert "| CePO `planned` wall time <= 1.1x its ideal (5 calls) | **" in section
    assert f"| {DEFAULT_GOAL} | **" in section
    assert "| upstream calls | 5 on the critical path | 27 |" in section
    assert "### 1b. One CePO request, default preset `medium` (plan-free)" in section
    assert "| upstream calls | 3 on the critical path | 27 | - |" in section
    assert "not part of this run" in section


def test_write_section_replaces_only_between_markers(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    write_section(path, "first")
    path.write_text(path.read_text() + "\n## Accuracy\n\nother section\n")
    write_section(path, "second")
    text = path.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    assert "second" in text and "first" not in text
    assert text.endswith("## Accuracy\n\nother section\n")


def _results(
    wall: float, first_event: float, overhead: float, default_wall: float = 0.85
) -> dict[str, Any]:
    return {
        "cepo": {
            "latency": 0.2,
            "tokens": 64,
            "tokens_per_second": 1000.0,
            "ideal": 1.32,
            "direct_call": 0.27,
            "ours": {
                "wall": wall,
                "walls": [wall],
                "calls": 27,
                "tokens": 5000,
                "first_event_p50": {"quiet": first_event, "verbose": first_event},
                "first_event_p95": {"quiet": first_event, "verbose": first_event},
                "first_event_samples": {"quiet": 1, "verbose": 1},
                "errors": [],
            },
            "optillm": {"wall": 2.5, "walls": [2.5], "calls": 48, "tokens": 9000, "errors": []},
            "default_preset": {
                "preset": "medium",
                "critical_path_calls": 3,
                "ideal": 0.792,
                "ours": {"wall": default_wall, "walls": [default_wall], "calls": 27,
                         "tokens": 2000,
                         "first_event_p95": {"quiet": first_event, "verbose": first_event},
                         "first_event_samples": {"quiet": 1, "verbose": 1}, "errors": []},
            },
            "sweep": [],
        },
        "passthrough": {
            "cells": [
                {
                    "stream": False,
                    "concurrency": 1,
                    "targets": {
                        "direct": {"p50": 0.002, "p99": 0.004, "overhead_p50": 0.0,
                                   "overhead_p99": 0.0, "events_per_second": 400.0, "errors": 0},
                        "ours": {"p50": 0.002 + overhead, "p99": 0.006,
                                 "overhead_p50": overhead, "overhead_p99": 0.002,
                                 "events_per_second": 300.0, "errors": 0},
                    },
                }
            ],
            "many_streams": {"streams": 500, "completed": 500, "errors": 0, "first_errors": [],
                             "wall": 1.0, "peak_upstream": 500, "events": 17000},
        },
        "concurrency": {"ours": [{"concurrency": 32, "requests": 32, "completed": 32,
                                  "errors": 0, "first_errors": [], "wall": 1.7,
                                  "per_second": 18.8, "p50": 1.6, "p95": 1.7,
                                  "peak_upstream": 288, "upstream_calls": 864,
                                  "peak_rss": 66e6}],
                        "optillm": []},
        "footprint": {"ours": {"start_seconds": 0.9, "rss_idle": 70e6, "rss_at_start": 60e6}},
    }  # fmt: skip


def test_goals_are_judged_from_the_numbers() -> None:
    good = {v.goal: v.status for v in evaluate(_results(1.4, 0.01, 0.001))}
    assert good["CePO `planned` wall time <= 1.1x its ideal (5 calls)"] == "met"
    assert good[DEFAULT_GOAL] == "met"  # 0.85 / 0.792
    assert good["CePO `planned` wall time <= 0.5x optillm's"] == "not met"  # 1.4 / 2.5
    assert good["Upstream calls <= 0.6x optillm's"] == "met"  # 27 / 48
    assert good["First SSE event < 50 ms at p95 (quiet)"] == "met"
    assert good["Pass-through adds <= 2.5 ms p50 at concurrency 1 (JSON)"] == "met"
    assert good["Pass-through adds <= 6 ms p99 at concurrency 1 (JSON)"] == "met"
    assert good["32 concurrent CePO requests at >= 15 completed/s"] == "met"
    assert good["500 concurrent pass-through streams, no error"] == "met"
    assert good["Idle memory < 100 MB"] == "met"
    assert good["Start-up < 1.5 s"] == "met"
    bad = {v.goal: v.status for v in evaluate(_results(1.5, 0.06, 0.003, default_wall=0.9))}
    assert bad["CePO `planned` wall time <= 1.1x its ideal (5 calls)"] == "not met"
    assert bad[DEFAULT_GOAL] == "not met"  # 0.9 / 0.792 = 1.14
    assert bad["First SSE event < 50 ms at p95 (verbose)"] == "not met"
    assert bad["Pass-through adds <= 2.5 ms p50 at concurrency 1 (JSON)"] == "not met"
    empty = {v.goal: v.status for v in evaluate({})}
    assert set(empty.values()) == {"not measured"}


def test_report_renders_every_section_from_numbers() -> None:
    text = render(_results(1.2, 0.01, 0.001), chart="perf_chart.png")
    for heading in ("### Goals", "### 1. One CePO request", "### 3. Pass-through overhead",
                    "### 4. Footprint"):  # fmt: skip
        assert heading in text
    assert "| wall time (median) | 1.320 s | 1.200 s | 2.500 s | 0.91x | 0.48x |" in text
    medium = text[text.index("### 1b. One CePO request, default preset `medium`") :]
    assert "| wall time (median) | 0.792 s | 0.850 s | - | 1.07x | - |" in medium
    assert "| upstream calls | 3 on the critical path | 27 | - |  | - |" in medium
    assert "500 concurrent pass-through streams through cepo-proxy: 500 completed, 0 errors" in text


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 50))
    assert percentile([0.0, 10.0], 95) == 9.5
