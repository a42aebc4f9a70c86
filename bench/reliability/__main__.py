"""``python -m bench.reliability``: the long load rounds (and, with ``--suite``, the CI
reliability suite) and the reliability section of ``bench/RESULTS.md``.

    python -m bench.reliability                 # 200 CePO + 500 streams, 5 rounds
    python -m bench.reliability --suite         # also run tests/reliability for the tables
    python -m bench.reliability --cepo 50 --streams 100 --rounds 2 --no-write

Exit code 1 when a check fails: any error, a deadline missed, the upstream limit exceeded,
or round 5's idle RSS more than 10% above round 2's.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bench.perf.procs import start_fake, start_proxy
from bench.reliability.load import LoadConfig, RoundResult, run_rounds
from bench.reliability.report import section, write_section
from bench.reliability.suite import REPO_ROOT, SuiteResult, parse_junit, run_suite

MEMORY_BOUND = 0.10


def _parser() -> argparse.ArgumentParser:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--cepo", type=int, default=defaults.cepo_requests)
    parser.add_argument("--streams", type=int, default=defaults.stream_requests)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--preset", default=defaults.preset, choices=["low", "medium", "high"])
    parser.add_argument("--concurrency", type=int, default=defaults.upstream_max_concurrency)
    parser.add_argument("--suite", action="store_true", help="run tests/reliability too")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench/out/reliability")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench/RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--from-saved",
        action="store_true",
        help="rewrite the section from the last run's load.json and suite.xml (no new run)",
    )
    return parser


def _progress(result: RoundResult) -> None:
    print(
        f"round {result.round}: CePO {result.cepo.requests} errors {result.cepo.errors} "
        f"max {result.cepo.latency_max:.1f}s peak {result.cepo.upstream_max_open_calls}; "
        f"streams {result.streams.requests} errors {result.streams.errors} "
        f"max {result.streams.latency_max:.1f}s peak {result.streams.upstream_max_open_calls}; "
        f"RSS {result.rss_bytes_idle / 1048576:.1f} MB",
        flush=True,
    )


def _fuzz_counts() -> dict[str, int]:
    from tests.reliability import (
        test_hostile_input,
        test_schema_fuzz,
        test_sse_hostile,
        test_stream_shapes,
    )

    return {
        "hypothesis: random JSON bodies": test_hostile_input.RANDOM_BODY_EXAMPLES,
        "hypothesis: random bytes as body": test_hostile_input.RANDOM_BYTES_EXAMPLES,
        "schemathesis: POST /v1/chat/completions and GET /v1/models (each)": (
            test_schema_fuzz.EXAMPLES_PER_OPERATION
        ),
        "hypothesis: hostile byte streams into the SSE decoder": test_sse_hostile.DECODER_EXAMPLES,
        "hypothesis: hostile upstream streams through the proxy": test_sse_hostile.PROXY_EXAMPLES,
        "hypothesis: upstream event sequences (multi-line data, event, id) relayed": (
            test_stream_shapes.RELAY_EXAMPLES
        ),
        "pass-through requests past their deadline (504), memory checked": (
            test_stream_shapes.DEADLINE_REQUESTS
        ),
        "wrong type in every field (pass-through and CePO model)": 2
        * sum(len(values) for values in test_hostile_input.WRONG_VALUES.values()),
    }


def _run_load(cfg: LoadConfig, logs: Path) -> list[RoundResult]:
    with (
        start_fake(
            "fake",
            logs,
            latency=cfg.upstream_latency,
            tokens=cfg.upstream_tokens,
            tokens_per_second=cfg.upstream_tokens_per_second,
            model="fake-model",
        ) as fake,
        start_proxy(
            "proxy", logs, upstream_base_url=f"{fake.url}/v1", settings=cfg.proxy_settings()
        ) as proxy,
    ):
        return run_rounds(proxy.url, fake.url, proxy.rss_bytes, cfg, _progress)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = replace(
        LoadConfig(),
        cepo_requests=args.cepo,
        stream_requests=args.streams,
        rounds=args.rounds,
        preset=args.preset,
        upstream_max_concurrency=args.concurrency,
    )
    suite: SuiteResult | None = None
    if args.from_saved:
        saved = json.loads((args.out / "load.json").read_text())
        cfg = LoadConfig(**saved["config"])
        rounds = [RoundResult.from_dict(item) for item in saved["rounds"]]
        if (args.out / "suite.xml").exists():
            suite = parse_junit(args.out / "suite.xml")
    else:
        if args.suite:
            suite = run_suite(args.out / "suite.xml")
        rounds = _run_load(cfg, args.out / "logs")
    second, last = rounds[min(1, len(rounds) - 1)], rounds[-1]
    memory_ok = last.rss_bytes_idle <= second.rss_bytes_idle * (1 + MEMORY_BOUND)
    phases = [p for r in rounds for p in (r.cepo, r.streams)]
    checks = {
        "zero errors": all(p.errors == 0 for p in phases),
        "no deadline missed": all(p.deadline_misses == 0 for p in phases),
        "upstream limit held": all(
            p.upstream_max_open_calls <= cfg.upstream_max_concurrency for p in phases
        ),
        "oldest first": all(p.first_quarter_mean_end < p.last_quarter_mean_end for p in phases),
        f"memory flat (round {last.round} within 10% of round {second.round})": memory_ok,
    }
    if suite is not None:
        checks["reliability suite passed"] = suite.failed == 0
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.from_saved:
        (args.out / "load.json").write_text(
            json.dumps({"config": cfg.__dict__, "rounds": [r.as_dict() for r in rounds]}, indent=1)
        )
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if not args.no_write:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--from-saved"]
        if args.from_saved and suite is not None and "--suite" not in shown:
            shown.append("--suite")
        command = "python -m bench.reliability " + " ".join(shown)
        write_section(
            args.results, section(cfg, rounds, memory_ok, suite, _fuzz_counts(), command.strip())
        )
        print(f"wrote the reliability section of {args.results}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
