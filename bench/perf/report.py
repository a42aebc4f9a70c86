"""The performance section of ``bench/RESULTS.md``, rendered from one run's results.

:func:`render` returns the markdown between (not including) the markers;
:func:`write_section` puts it between ``<!-- perf:start -->`` and ``<!-- perf:end -->``
in the file, creating the file or appending the markers when missing, and never
touching anything outside them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.perf.goals import evaluate
from bench.perf.rig import DEFAULT_PRESET, PLANNED, PresetShape
from bench.perf.stats import fmt_ratio, mb, ms, ratio, secs

START = "<!-- perf:start -->"
END = "<!-- perf:end -->"


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _count(value: Any) -> str:
    number = _num(value)
    return "n/a" if math.isnan(number) else f"{number:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _setup(results: dict[str, Any]) -> list[str]:
    env = results.get("environment") or {}
    s1 = results.get("cepo") or {}
    lines = [
        "## Performance",
        "",
        f"Run of {env.get('date', '?')} on {env.get('machine', '?')} "
        f"(client, proxy, optillm and the scripted upstream share the machine). "
        f"Command: `{env.get('command', 'python -m bench')}`; raw numbers in "
        f"`{env.get('raw', 'bench/out/perf.json')}`.",
        "",
    ]
    if s1:
        ideals = [_ideal_words(PLANNED, s1)]
        if s1.get("default_preset"):
            ideals.append(_ideal_words(DEFAULT_PRESET, s1["default_preset"]))
        lines += [
            f"Scripted upstream (`tests/fake_upstream`, OpenAI personality): latency "
            f"L = {s1['latency']:g} s before the headers of every call, replies of "
            f"{s1['tokens']} tokens at {s1['tokens_per_second']:g} tokens/s "
            f"(so {s1['tokens'] / s1['tokens_per_second']:.3f} s of generation per call). "
            f"Ideal = the calls of the preset's critical path back to back: "
            f"{'; '.join(ideals)}. One call measured straight at the fake takes "
            f"{secs(_num(s1.get('direct_call')))}.",
            "",
        ]
    optillm = env.get("optillm")
    lines.append(
        f"optillm: {optillm} in its own virtual environment (`bench/.optillm/`)."
        if optillm
        else "optillm: not part of this run."
    )
    settings = env.get("proxy_settings")
    if settings:
        pairs = ", ".join(f"`{k}={v}`" for k, v in settings.items())
        lines += ["", f"Proxy settings for scenarios 1-3: {pairs}; everything else default."]
    return [*lines, ""]


def _ideal_words(preset: PresetShape, run: dict[str, Any]) -> str:
    calls = run.get("critical_path_calls", preset.critical_path_calls)
    return (
        f"`{preset.name}` {calls} x (L + generation) ({', '.join(preset.critical_path)}) "
        f"= {secs(_num(run.get('ideal')))}"
    )


def _first_events(ours: dict[str, Any]) -> str:
    p95 = ours.get("first_event_p95") or {}
    return f"{ms(_num(p95.get('quiet')))} / {ms(_num(p95.get('verbose')))}"


def _goals(results: dict[str, Any]) -> list[str]:
    rows = [[v.goal, f"**{v.status}**", v.measured] for v in evaluate(results)]
    return ["### Goals", "", *_table(["goal", "status", "measured"], rows), ""]


def _cepo(results: dict[str, Any], chart: str | None) -> list[str]:
    s1 = results.get("cepo")
    if not s1:
        return []
    ours, theirs = s1.get("ours") or {}, s1.get("optillm") or {}
    ideal = _num(s1.get("ideal"))
    rows = [
        [
            "wall time (median)",
            secs(ideal),
            secs(_num(ours.get("wall"))),
            secs(_num(theirs.get("wall"))),
            fmt_ratio(ratio(_num(ours.get("wall")), ideal)),
            fmt_ratio(ratio(_num(ours.get("wall")), _num(theirs.get("wall")))),
        ],
        [
            "first SSE event p95, quiet / verbose",
            "-",
            _first_events(ours),
            secs(_num(theirs.get("first_event_stream"))) + " (streamed)" if theirs else "n/a",
            "",
            "",
        ],
        [
            "upstream calls",
            f"{s1.get('critical_path_calls', PLANNED.critical_path_calls)} on the critical path",
            _count(ours.get("calls")),
            _count(theirs.get("calls")),
            "",
            fmt_ratio(ratio(_num(ours.get("calls")), _num(theirs.get("calls")))),
        ],
        [
            "upstream tokens (prompt + completion)",
            "-",
            _count(ours.get("tokens")),
            _count(theirs.get("tokens")),
            "",
            fmt_ratio(ratio(_num(ours.get("tokens")), _num(theirs.get("tokens")))),
        ],
    ]
    lines = [
        "### 1. One CePO request, preset `planned` (the paper's shape, as optillm runs it)",
        "",
        *_table(["", "ideal", "cepo-proxy", "optillm", "ours / ideal", "ours / optillm"], rows),
        "",
    ]
    p50 = ours.get("first_event_p50") or {}
    samples = ours.get("first_event_samples") or {}
    lines.append(
        f"Wall time over {len(ours.get('walls') or [])} requests (quiet and verbose streams); "
        f"first event p50 {ms(_num(p50.get('quiet')))} quiet, "
        f"{ms(_num(p50.get('verbose')))} verbose, over {samples.get('quiet', 0)} + "
        f"{samples.get('verbose', 0)} requests. Upstream calls and tokens are counted at the "
        "scripted upstream (its tokens are words)."
    )
    sweep = s1.get("sweep") or []
    if sweep:
        header = ["L", "ideal", "cepo-proxy", "optillm", "ours / ideal", "ours / optillm"]
        rows = [
            [
                f"{row['latency']:g} s",
                secs(row["ideal"]),
                secs(_num(row.get("ours"))),
                secs(_num(row.get("optillm"))),
                fmt_ratio(ratio(_num(row.get("ours")), row["ideal"])),
                fmt_ratio(ratio(_num(row.get("ours")), _num(row.get("optillm")))),
            ]
            for row in sweep
        ]
        lines += ["", "Wall time against L (one request each):", "", *_table(header, rows)]
    if chart:
        lines += ["", f"![wall time against L]({chart})"]
    errors = (ours.get("errors") or []) + (theirs.get("errors") or [])
    if errors:
        lines += ["", f"Errors: {len(errors)} (first: `{errors[0][:120]}`)."]
    return [*lines, "", *_default_preset(s1.get("default_preset"))]


def _default_preset(run: dict[str, Any] | None) -> list[str]:
    """The default preset's table: ours against its own ideal (optillm has no plan-free
    mode, so its columns are "-")."""
    if not run:
        return []
    ours = run.get("ours") or {}
    ideal, wall = _num(run.get("ideal")), _num(ours.get("wall"))
    calls = run.get("critical_path_calls", DEFAULT_PRESET.critical_path_calls)
    rows = [
        ["wall time (median)", secs(ideal), secs(wall), "-", fmt_ratio(ratio(wall, ideal)), "-"],
        ["first SSE event p95, quiet / verbose", "-", _first_events(ours), "-", "", "-"],
        ["upstream calls", f"{calls} on the critical path", _count(ours.get("calls")), "-", "",
         "-"],
        ["upstream tokens (prompt + completion)", "-", _count(ours.get("tokens")), "-", "", "-"],
    ]  # fmt: skip
    name = run.get("preset", DEFAULT_PRESET.name)
    lines = [
        f"### 1b. One CePO request, default preset `{name}` (plan-free)",
        "",
        *_table(["", "ideal", "cepo-proxy", "optillm", "ours / ideal", "ours / optillm"], rows),
        "",
        f"The same proxy and upstream; the request picks the preset with `reasoning_effort: "
        f'"{name}"`. optillm has no plan-free mode, so it is not compared here. Wall time '
        f"over {len(ours.get('walls') or [])} requests (quiet and verbose streams); first "
        f"event over {(ours.get('first_event_samples') or {}).get('quiet', 0)} + "
        f"{(ours.get('first_event_samples') or {}).get('verbose', 0)} requests.",
    ]
    errors = ours.get("errors") or []
    if errors:
        lines += ["", f"Errors: {len(errors)} (first: `{errors[0][:120]}`)."]
    return [*lines, ""]


def _concurrency(results: dict[str, Any]) -> list[str]:
    s2 = results.get("concurrency")
    if not s2:
        return []
    header = ["side", "concurrent", "completed/s", "p50", "p95", "peak upstream", "errors", "RSS"]
    rows = []
    for side, name in (("ours", "cepo-proxy"), ("optillm", "optillm")):
        for level in s2.get(side) or []:
            rows.append(
                [
                    name,
                    str(level["concurrency"]),
                    f"{level['per_second']:.2f}",
                    secs(_num(level["p50"])),
                    secs(_num(level["p95"])),
                    str(level["peak_upstream"]),
                    str(level["errors"]),
                    mb(_num(level["peak_rss"])),
                ]
            )
    lines = [
        "### 2. Concurrent CePO requests",
        "",
        *_table(header, rows),
        "",
        "One wave of `concurrent` requests sent together (ours: quiet streams; optillm: JSON). "
        "Peak upstream = most calls open at the fake at once; RSS = peak resident memory "
        "of the serving process during the wave.",
    ]
    for side in ("ours", "optillm"):
        for level in s2.get(side) or []:
            if level["first_errors"]:
                lines.append(
                    f"{side} at {level['concurrency']}: first error `{level['first_errors'][0]}`"
                )
    return [*lines, ""]


def _passthrough(results: dict[str, Any]) -> list[str]:
    s3 = results.get("passthrough")
    if not s3:
        return []
    header = [
        "mode",
        "concurrent",
        "path",
        "p50",
        "p99",
        "added p50",
        "added p99",
        "events/s",
        "errors",
    ]
    rows = []
    for cell in s3.get("cells") or []:
        for name, row in cell["targets"].items():
            rows.append(
                [
                    "stream" if cell["stream"] else "JSON",
                    str(cell["concurrency"]),
                    {"direct": "direct to upstream", "ours": "cepo-proxy"}.get(name, name),
                    ms(row["p50"]),
                    ms(row["p99"]),
                    "-" if name == "direct" else ms(row["overhead_p50"]),
                    "-" if name == "direct" else ms(row["overhead_p99"]),
                    f"{row['events_per_second']:.0f}",
                    str(row["errors"]),
                ]
            )
    counts = sorted(
        {
            row["requests"]
            for cell in s3.get("cells") or []
            for row in cell["targets"].values()
            if "requests" in row
        }
    )
    per_row = (
        f" ({' or '.join(str(c) for c in counts)} requests per path and row)" if counts else ""
    )
    lines = [
        "### 3. Pass-through overhead",
        "",
        *_table(header, rows),
        "",
        "The upstream answers at once (no latency, no pacing), so each path's own cost is all "
        f"that is measured; the paths take turns in rounds{per_row}. events/s = SSE "
        "events (chunks) delivered per second of wall time (1 per JSON response).",
    ]
    many = s3.get("many_streams")
    if many:
        lines += [
            "",
            f"{many['streams']} concurrent pass-through streams through cepo-proxy: "
            f"{many['completed']} completed, {many['errors']} errors, "
            f"{many['peak_upstream']} open at the upstream at peak, "
            f"{many['events']} events in {secs(many['wall'])}.",
        ]
        if many["first_errors"]:
            lines.append(f"First error: `{many['first_errors'][0]}`.")
    return [*lines, ""]


def _footprint(results: dict[str, Any]) -> list[str]:
    s4 = results.get("footprint")
    if not s4:
        return []
    s2 = results.get("concurrency") or {}

    def under_load(side: str) -> str:
        levels = s2.get(side) or []
        if not levels:
            return "n/a"
        top = max(levels, key=lambda level: level["concurrency"])
        return f"{mb(_num(top['peak_rss']))} ({top['concurrency']} concurrent)"

    rows = []
    sides = (
        ("ours_runtime", "cepo-proxy (runtime-only env)"),
        ("ours", "cepo-proxy (dev env)"),
        ("optillm", "optillm"),
    )
    for side, name in sides:
        data = s4.get(side)
        if not data:
            continue
        closure = data.get("closure") or {}
        rows.append(
            [
                name,
                f"{secs(_num(data.get('start_seconds')))} "
                f"({secs(_num(data.get('start_cpu_seconds')))} CPU)",
                mb(_num(data.get("rss_at_start"))),
                mb(_num(data.get("rss_idle"))),
                under_load("ours" if side.startswith("ours") else side),
                f"{mb(_num(closure.get('bytes')))} ({_count(closure.get('distributions'))} "
                "packages)",
                mb(_num(data.get("venv_bytes"))),
            ]
        )
    header = [
        "",
        "start-up to /health",
        "RSS at start",
        "RSS idle",
        "RSS under load",
        "installed (runtime closure)",
        "whole venv",
    ]
    lines = [
        "### 4. Footprint",
        "",
        *_table(header, rows),
        "",
        "Start-up: median of fresh starts, from process launch to the first 200 from "
        "`/health`. RSS idle: after one pass-through and one CePO request and a second of "
        "quiet. Installed: the package and everything it requires at run time, as installed; "
        "whole venv: the virtual environment on disk. Runtime-only env: `bench/.runtime`, "
        "`pip install -e .` and nothing else (what `make run` and the Docker image have; the "
        "start-up and memory goals are judged on it); dev env: `.venv` with the dev and bench "
        "tools (schemathesis brings `rich`, which makes httpx import its command-line client).",
    ]
    error = (s4.get("optillm") or {}).get("error")
    if error:
        lines.append(f"optillm start-up failed: `{error.splitlines()[0]}`")
    return [*lines, ""]


def render(results: dict[str, Any], chart: str | None = None) -> str:
    """The markdown of the performance section (no markers)."""
    lines = [
        *_setup(results),
        *_goals(results),
        *_cepo(results, chart),
        *_concurrency(results),
        *_passthrough(results),
        *_footprint(results),
    ]
    notes = results.get("notes") or []
    if notes:
        lines += ["### Notes", "", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines).rstrip() + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace what lies between the perf markers in ``path`` with ``section``."""
    block = f"{START}\n{section.rstrip()}\n{END}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = text.find(START), text.find(END)
    if start != -1 and end != -1 and end > start:
        text = text[:start] + block + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
