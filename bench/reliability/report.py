"""The reliability section of ``bench/RESULTS.md`` (between its two markers only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.reliability.load import LoadConfig, RoundResult
from bench.reliability.suite import SuiteResult

START = "<!-- reliability:start -->"
END = "<!-- reliability:end -->"
MB = 1024 * 1024


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _faults(suite: SuiteResult) -> list[str]:
    rows = []
    for fault in sorted(suite.faults):
        by_context = suite.faults[fault]
        survived = sum(1 for v in by_context.values() if v == "survived")
        failed = [where for where, v in by_context.items() if v != "survived"]
        rows.append([fault, f"{survived} / {len(by_context)}", ", ".join(failed) or "none"])
    lines = [
        "Each fault injected on every upstream call of one context: pass-through JSON and "
        "stream; CePO plan, execute, refine, final and rate, each with a JSON and a streamed "
        "client; the live-streamed CePO answer (connection refused: pass-through and CePO, "
        "JSON and stream). Survived = a degraded but correct answer or a clear OpenAI error "
        "within the deadline, then no upstream call open and the proxy's asyncio task count "
        "back at its baseline.",
        "",
    ]
    return lines + _table(["fault", "contexts survived", "failed in"], rows)


def _groups(suite: SuiteResult, names: dict[str, str]) -> list[str]:
    rows = []
    for test, label in names.items():
        passed, total = suite.groups.get(test, [0, 0])
        rows.append([label, f"{passed} / {total}"])
    return _table(["check", "passed"], rows)


def _load(cfg: LoadConfig, rounds: list[RoundResult], memory_ok: bool) -> list[str]:
    rows = []
    for r in rounds:
        rows.append(
            [
                str(r.round),
                f"{r.cepo.requests} CePO + {r.streams.requests} streams",
                f"{r.cepo.errors + r.streams.errors}",
                f"{r.cepo.latency_p50:.2f} / {r.cepo.latency_max:.2f}",
                f"{r.streams.latency_p50:.2f} / {r.streams.latency_max:.2f}",
                f"{r.cepo.upstream_max_open_calls} / {r.streams.upstream_max_open_calls}",
                f"{r.cepo.order_agreement:.2f} / {r.streams.order_agreement:.2f}",
                f"{r.rss_bytes_idle / MB:.1f}",
            ]
        )
    header = [
        "round",
        "requests (all at once)",
        "errors",
        "CePO p50 / max s",
        "streams p50 / max s",
        "upstream peak (CePO / streams)",
        "order agreement",
        "proxy RSS MB",
    ]
    second, last = rounds[min(1, len(rounds) - 1)], rounds[-1]
    growth = (last.rss_bytes_idle / second.rss_bytes_idle - 1) * 100
    peak = max(
        max(r.cepo.upstream_max_open_calls, r.streams.upstream_max_open_calls) for r in rounds
    )
    misses = sum(r.cepo.deadline_misses + r.streams.deadline_misses for r in rounds)
    limit_held = peak <= cfg.upstream_max_concurrency
    return [
        f"Limits: upstream calls at once {cfg.upstream_max_concurrency} "
        f"(CEPO_UPSTREAM_MAX_CONCURRENCY), reasoning requests {cfg.max_concurrent_reasoning}, "
        f"deadline {cfg.request_timeout:g} s; upstream {cfg.upstream_latency:g} s to headers, "
        f"{cfg.upstream_tokens} words at {cfg.upstream_tokens_per_second:g} words/s; CePO "
        f"reasoning_effort {cfg.preset}, half streamed; requests started "
        f"{cfg.stagger * 1000:g} ms apart. Proxy and upstream are separate processes on "
        "loopback. Order agreement: completion order against start order "
        "(Kendall-style, 1 = strictly oldest first).",
        "",
        *_table(header, rows),
        "",
        f"Memory: round {last.round} idle RSS is {growth:+.1f}% against round {second.round} "
        f"({'within' if memory_ok else 'OUTSIDE'} the 10% bound). Upstream peak {peak} of "
        f"{cfg.upstream_max_concurrency} ({'never exceeded' if limit_held else 'EXCEEDED'}); "
        f"deadline misses: {misses}.",
    ]


def section(
    cfg: LoadConfig,
    rounds: list[RoundResult],
    memory_ok: bool,
    suite: SuiteResult | None,
    fuzz_counts: dict[str, Any],
    command: str,
) -> str:
    lines = [START, "## Reliability", "", f"Produced by `{command}`.", ""]
    if suite is not None:
        lines += [
            f"### Faults ({suite.passed} tests passed, {suite.failed} failed in the suite run)",
            "",
            *(
                [f"Failed in this run: {', '.join(f'`{name}`' for name in suite.failures)}.", ""]
                if suite.failures
                else []
            ),
            *_faults(suite),
            "",
            "### Clients that leave, hostile input, shutdown",
            "",
            *_groups(
                suite,
                {
                    "test_leaves_at_a_random_point": "client leaves at a random point",
                    "test_cepo_stream_leaves_during_reasoning": "leaves during reasoning",
                    "test_cepo_stream_leaves_during_the_live_answer": "leaves during the answer",
                    "test_passthrough_leaves_before_headers": "leaves before headers",
                    "test_wrong_type_in_every_field": "wrong type in every field",
                    "test_deeply_nested_json": "deeply nested JSON",
                    "test_header_injection_is_refused": "header injection",
                    "test_sigterm_with_streams_in_flight": "SIGTERM with streams in flight",
                    "test_events_reach_the_client_as_the_upstream_wrote_them": (
                        "upstream events relayed as written (multi-line data, event, id)"
                    ),
                    "test_n_above_the_limit_completes_alongside_other_requests": (
                        "n above the upstream concurrency limit, JSON and stream"
                    ),
                    "test_thousands_of_deadline_504s_leave_memory_and_live_objects_flat": (
                        "thousands of deadline 504s, live objects and memory flat"
                    ),
                },
            ),
            "",
        ]
    lines += [
        "### Inputs fuzzed (zero 500s)",
        "",
        *_table(
            ["generator", "inputs"],
            [[name, str(count)] for name, count in fuzz_counts.items()],
        ),
        "",
        "### Load",
        "",
        *_load(cfg, rounds, memory_ok),
        "",
        "Commands: CI part `pytest tests/reliability` (short load: 50 CePO + 100 streams, "
        "2 rounds); long rounds and this section `python -m bench.reliability`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace the reliability section of ``path`` (create the file or append the section
    when missing); every other section is left as it is."""
    current = path.read_text() if path.exists() else "# Results\n"
    if START in current and END in current:
        before = current[: current.index(START)]
        after = current[current.index(END) + len(END) :].lstrip("\n")
        updated = before + text + ("\n" + after if after else "")
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated)
