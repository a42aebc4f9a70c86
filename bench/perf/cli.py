"""``python -m bench``: run the performance scenarios, write RESULTS.md's perf section.

Order: footprint first (fresh starts on a quiet machine), then one CePO request and the
latency sweep, the concurrency waves, and pass-through. Raw numbers go to
``OUT/perf.json``, process logs to ``OUT/logs/``. ``--quick`` is the seconds-long CI run.
Exit status: 0 when the run completed (goals are reported, not enforced), 1 on a failure
to run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from bench.perf import chart, report, s_cepo, s_concurrency, s_footprint, s_passthrough
from bench.perf.procs import (
    REPO_ROOT,
    Service,
    StartError,
    optillm_executable,
    optillm_version,
    start_fake,
    start_optillm,
    start_proxy,
)
from bench.perf.rig import MODEL, PLANNED, BenchConfig

DEFAULT_RESULTS = REPO_ROOT / "bench" / "RESULTS.md"
DEFAULT_CHART = REPO_ROOT / "bench" / "perf_chart.png"
DEFAULT_NOTES = REPO_ROOT / "bench" / "perf" / "notes.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny CI run (no optillm)")
    parser.add_argument("--no-optillm", action="store_true", help="leave optillm out")
    parser.add_argument("--scenarios", default="1,2,3,4", help="comma-separated, e.g. 1,3")
    parser.add_argument("--latency", type=float, help="upstream latency L in seconds")
    parser.add_argument("--tokens", type=int, help="tokens per upstream reply")
    parser.add_argument("--tokens-per-second", type=float, help="upstream generation speed")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: rewrite RESULTS.md (and the chart) from OUT/perf.json",
    )
    return parser


def config_from(args: argparse.Namespace) -> BenchConfig:
    cfg = BenchConfig()
    if args.quick:
        cfg = cfg.quick()
    scenarios = frozenset(int(part) for part in args.scenarios.split(",") if part.strip())
    cfg = replace(cfg, scenarios=scenarios, out_dir=args.out)
    if args.no_optillm:
        cfg = replace(cfg, optillm=False)
    if args.latency is not None:
        cfg = replace(cfg, latency=args.latency)
    if args.tokens is not None:
        cfg = replace(cfg, tokens=args.tokens)
    if args.tokens_per_second is not None:
        cfg = replace(cfg, tokens_per_second=args.tokens_per_second)
    return cfg


def _environment(cfg: BenchConfig, argv: list[str], optillm: bool) -> dict[str, Any]:
    memory = psutil.virtual_memory().total / 2**30
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}",
        "command": " ".join(["python -m bench", *argv]).strip(),
        "optillm": f"optillm {optillm_version()}" if optillm else None,
        "proxy_settings": cfg.proxy_settings,
    }


def run(cfg: BenchConfig, argv: list[str]) -> dict[str, Any]:
    """Run the selected scenarios; return the results (also written to ``out/perf.json``)."""
    log_dir = cfg.out_dir / "logs"
    with_optillm = cfg.optillm and optillm_executable() is not None
    results: dict[str, Any] = {"environment": _environment(cfg, argv, with_optillm)}
    if cfg.optillm and not with_optillm:
        results.setdefault("notes", []).append(
            "optillm is not installed (bench/.optillm/venv); its columns are empty."
        )
    say = _progress
    with contextlib.ExitStack() as stack:
        fake_cepo = stack.enter_context(
            start_fake(
                "fake-cepo",
                log_dir,
                latency=cfg.latency,
                tokens=cfg.tokens,
                tokens_per_second=cfg.tokens_per_second,
                model=MODEL,
            )
        )
        fake_pass = stack.enter_context(
            start_fake(
                "fake-pass",
                log_dir,
                latency=0.0,
                tokens=cfg.passthrough_tokens,
                tokens_per_second=None,
                model=MODEL,
            )
        )
        if 4 in cfg.scenarios:
            say("scenario 4: start-up, idle memory, installed size")
            results["footprint"] = s_footprint.run(cfg, fake_pass.url, log_dir, with_optillm)
        if cfg.scenarios & {1, 2}:
            with contextlib.ExitStack() as cepo_stack:
                proxy = cepo_stack.enter_context(
                    start_proxy(
                        "proxy-cepo",
                        log_dir,
                        upstream_base_url=f"{fake_cepo.url}/v1",
                        # the paper's shape (plans, executions, ratings), as optillm runs it;
                        # the default preset's requests name theirs (reasoning_effort)
                        settings={**cfg.proxy_settings, "CEPO_DEFAULT_PRESET": PLANNED.name},
                    )
                )
                optillm = _optional_optillm(cfg, cepo_stack, with_optillm, fake_cepo, "cepo")
                optillm_url = optillm.url if optillm else None
                if 1 in cfg.scenarios:
                    say("scenario 1: one CePO request, latency sweep")
                    results["cepo"] = s_cepo.run_sync(cfg, fake_cepo.url, proxy.url, optillm_url)
                if 2 in cfg.scenarios:
                    say("scenario 2: concurrent CePO requests")
                    results["concurrency"] = s_concurrency.run_sync(
                        cfg, fake_cepo.url, proxy, optillm
                    )
        if 3 in cfg.scenarios:
            with contextlib.ExitStack() as pass_stack:
                proxy = pass_stack.enter_context(
                    start_proxy(
                        "proxy-pass",
                        log_dir,
                        upstream_base_url=f"{fake_pass.url}/v1",
                        settings=cfg.proxy_settings,
                    )
                )
                optillm = _optional_optillm(cfg, pass_stack, with_optillm, fake_pass, "none")
                say("scenario 3: pass-through overhead, many streams")
                results["passthrough"] = s_passthrough.run_sync(
                    cfg, fake_pass.url, proxy.url, optillm.url if optillm else None
                )
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    (cfg.out_dir / "perf.json").write_text(json.dumps(results, indent=1, default=_plain))
    return results


def _optional_optillm(
    cfg: BenchConfig,
    stack: contextlib.ExitStack,
    wanted: bool,
    fake: Service,
    approach: str,
) -> Service | None:
    if not wanted:
        return None
    _progress(f"starting optillm --approach {approach}")
    try:
        return stack.enter_context(
            start_optillm(
                f"optillm-{approach}",
                cfg.out_dir / "logs",
                upstream_base_url=f"{fake.url}/v1",
                approach=approach,
                timeout=cfg.optillm_start_timeout,
            )
        )
    except StartError as error:
        _progress(f"optillm did not start: {error}")
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path | set | frozenset):
        return str(value) if isinstance(value, Path) else sorted(value)
    raise TypeError(f"not JSON: {value!r}")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    cfg = config_from(args)
    if args.render_only:
        results = json.loads((cfg.out_dir / "perf.json").read_text())
        s1 = results.get("cepo") or {}
        cfg = replace(
            cfg,
            tokens=s1.get("tokens", cfg.tokens),
            tokens_per_second=s1.get("tokens_per_second", cfg.tokens_per_second),
        )
    else:
        try:
            results = run(cfg, arguments)
        except StartError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1
    if args.notes.is_file():
        results.setdefault("notes", []).extend(
            line[2:].strip()
            for line in args.notes.read_text().splitlines()
            if line.startswith("- ")
        )
    chart_link = None
    sweep = (results.get("cepo") or {}).get("sweep") or []
    if len(sweep) > 1:
        title = (
            f"One CePO request (preset {PLANNED.name}); {cfg.tokens} tokens per call "
            f"at {cfg.tokens_per_second:g} tok/s"
        )
        chart.draw(sweep, args.chart, title=title, critical_path_calls=PLANNED.critical_path_calls)
        chart_link = os.path.relpath(args.chart, args.results.parent)
    section = report.render(results, chart_link)
    report.write_section(args.results, section)
    print(section)
    return 0
