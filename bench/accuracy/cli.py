"""The command line: ``python -m bench.accuracy run ...``, ``... report ...`` and
``... rescore ...``.

Exit status: 0 on success (a run with failed requests still exits 0: the failures are
recorded and retried by the next run), 2 for invalid arguments (bad dataset, arm,
index range, holdout refused), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.accuracy.arms import MATCHED_SC, ArmError, parse_arms
from bench.accuracy.datasets import DEV_BOUNDS, DatasetError, parse_dataset_names
from bench.accuracy.plot import plot_accuracy_vs_tokens
from bench.accuracy.records import read_results
from bench.accuracy.report import ReportError, render_section, write_section
from bench.accuracy.rescore import (
    answer_counts,
    read_refinals,
    render_answer_counts,
    render_rescore,
    rescore,
)
from bench.accuracy.runner import RunConfig, run_accuracy
from bench.accuracy.summary import summarise

_SECRET_OPTIONS = ("--api-key",)


def command_line(argv: Sequence[str]) -> str:
    """``python -m bench.accuracy ARGS`` as a shell line, with secret option values masked."""
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            masked.append("***")
            hide_next = False
        elif arg in _SECRET_OPTIONS:
            masked.append(arg)
            hide_next = True
        elif any(arg.startswith(option + "=") for option in _SECRET_OPTIONS):
            masked.append(arg.split("=", 1)[0] + "=***")
        else:
            masked.append(arg)
    return shlex.join(["python", "-m", "bench.accuracy", *masked])


def _parser() -> argparse.ArgumentParser:
    bounds = ", ".join(f"{name} < {bound}" for name, bound in DEV_BOUNDS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description="Accuracy of pass-through vs CePO arms through a running cepo-proxy.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run items through arms, appending to a JSONL file")
    run.add_argument(
        "--base-url",
        action="append",
        required=True,
        help="the proxy, e.g. http://127.0.0.1:8000/v1; given more than once, requests are "
        "spread across the proxies (each (item, arm) to the one with the fewest in flight)",
    )
    run.add_argument("--model", required=True, help="upstream model id (CePO arms use cepo-<id>)")
    run.add_argument(
        "--datasets", default="gsm8k,letters", help="comma-separated: gsm8k, cruxeval, letters"
    )
    run.add_argument(
        "--arms",
        default="baseline,low",
        help="comma-separated: baseline, low, medium, high, sc<k> (k samples at temperature "
        "0.7, majority), or NAME=JSON cepo overrides",
    )
    run.add_argument(
        "--sample", type=int, default=None, help="pick N items of the range (default all)"
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    run.add_argument(
        "--indices",
        default=None,
        help=f"0-based line range A:B (default: the development range, {bounds})",
    )
    run.add_argument(
        "--allow-holdout",
        action="store_true",
        help="allow indices at or above the development bounds (the held-out items)",
    )
    run.add_argument("--concurrency", type=int, default=1, help="requests in flight (default 1)")
    run.add_argument("--out", type=Path, required=True, help="results file (JSONL, appended)")
    run.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY", "not-needed"), help="proxy API key"
    )
    run.add_argument("--timeout", type=float, default=3600.0, help="per-request timeout, seconds")
    run.add_argument("--retries", type=int, default=0, help="SDK retries per request (default 0)")
    run.add_argument(
        "--max-tokens", type=int, default=None, help="max_tokens sent with each request"
    )
    run.add_argument(
        "--temperature", type=float, default=None, help="temperature sent (default unset)"
    )
    run.add_argument("--model-prefix", default="cepo-", help="prefix of CePO model names")
    run.add_argument("--no-reasoning", action="store_true", help="do not store reasoning traces")

    report = commands.add_parser("report", help="summarise result files")
    report.add_argument(
        "--in", dest="inputs", type=Path, nargs="+", required=True, help="JSONL files"
    )
    report.add_argument(
        "--write-results",
        type=Path,
        default=None,
        help="update the accuracy section of this markdown file (else print to stdout)",
    )
    report.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG path (default: accuracy_tokens.png next to --write-results)",
    )
    report.add_argument(
        "--versus",
        default=",".join(f"{arm}:{other}" for arm, other in MATCHED_SC.items()),
        help="ARM:OTHER pairs compared besides the baseline; an arm may appear in several "
        "(default low:sc6,medium:sc27)",
    )

    again = commands.add_parser(
        "rescore", help="re-choose recorded CePO candidates under every selection rule"
    )
    again.add_argument(
        "--in", dest="inputs", type=Path, nargs="+", required=True, help="JSONL files"
    )
    again.add_argument(
        "--refinals",
        type=Path,
        help="outcomes of bench/accuracy/rig/refinal.py: adds keep_execution_majority (measured)",
    )
    return parser


def _versus(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for spec in filter(None, (part.strip() for part in text.split(","))):
        arm, sep, other = spec.partition(":")
        if not sep or not arm or not other:
            raise UsageError(f"--versus wants ARM:OTHER pairs, got {spec!r}")
        if (arm, other) not in pairs:
            pairs.append((arm, other))
    return pairs


def _rescore(args: argparse.Namespace) -> int:
    items = []
    for path in args.inputs:
        if not path.exists():
            raise UsageError(f"no such results file: {path}")
        items += read_results(path)[1]
    refinals = None
    if args.refinals is not None:
        if not args.refinals.exists():
            raise UsageError(f"no such refinals file: {args.refinals}")
        refinals = read_refinals(args.refinals)
    print(render_rescore(rescore(items, refinals)))
    print(render_answer_counts(answer_counts(items)), end="")
    return 0


class UsageError(Exception):
    """An argument is invalid; reported in one line with exit status 2."""


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.sample is not None and args.sample < 1:
        raise UsageError("--sample must be at least 1")
    config = RunConfig(
        base_urls=tuple(dict.fromkeys(args.base_url)),
        model=args.model,
        datasets=parse_dataset_names(args.datasets),
        arms=parse_arms(args.arms),
        out=args.out,
        sample=args.sample,
        seed=args.seed,
        indices=args.indices,
        allow_holdout=args.allow_holdout,
        concurrency=args.concurrency,
        api_key=args.api_key,
        timeout=args.timeout,
        max_retries=args.retries,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        keep_reasoning=not args.no_reasoning,
        model_prefix=args.model_prefix,
        command=command_line(argv),
    )
    summary = asyncio.run(run_accuracy(config))
    print(
        f"done: {summary.recorded} recorded ({summary.correct} right, {summary.failed} failed), "
        f"{summary.skipped} skipped as already done; results in {config.out}",
        file=sys.stderr,
    )
    return 0


def _report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    runs = []
    items = []
    for path in args.inputs:
        if not path.exists():
            raise UsageError(f"no such results file: {path}")
        file_runs, file_items = read_results(path)
        runs += file_runs
        items += file_items
    summaries, comparisons = summarise(items, versus=_versus(args.versus))
    plot_path: Path | None = args.plot
    if plot_path is None and args.write_results is not None:
        plot_path = args.write_results.parent / "accuracy_tokens.png"
    plot_link = None
    if plot_path is not None and plot_accuracy_vs_tokens(summaries, plot_path):
        base = args.write_results.parent if args.write_results is not None else Path.cwd()
        plot_link = os.path.relpath(plot_path, base)
    section = render_section(
        runs, summaries, comparisons, report_command=command_line(argv), plot_link=plot_link
    )
    if args.write_results is None:
        print(section, end="")
    else:
        write_section(args.write_results, section)
        print(f"accuracy section written to {args.write_results}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    try:
        if args.command == "run":
            return _run(args, arguments)
        if args.command == "rescore":
            return _rescore(args)
        return _report(args, arguments)
    except (UsageError, DatasetError, ArmError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; finished items are saved, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
