"""Run the CI reliability suite under pytest and summarise it for the figures.

The fault table, the fuzzing counts and the shutdown/disconnect outcomes in
``bench/RESULTS.md`` come from an actual run (a JUnit XML report), not from a list.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_PARAMS = re.compile(r"^(?P<name>[^\[]+)(\[(?P<params>.*)\])?$")


@dataclass
class SuiteResult:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    #: fault -> context -> "survived" / "FAILED"
    faults: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    #: test function -> (passed, total)
    groups: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[str] = field(default_factory=list)


def run_suite(report: Path) -> SuiteResult:
    """``pytest tests/reliability`` (the short load test excluded: the long run replaces it)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/reliability",
        "-q",
        "-p",
        "no:cacheprovider",
        "--deselect",
        "tests/reliability/test_load.py",
        f"--junitxml={report}",
    ]
    subprocess.run(command, cwd=REPO_ROOT, check=False)
    return parse_junit(report)


def parse_junit(report: Path) -> SuiteResult:
    result = SuiteResult()
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        setattr(result, outcome, getattr(result, outcome) + 1)
        if outcome == "failed":
            result.failures.append(f"{case.get('classname')}::{case.get('name')}")
        result.seconds += float(case.get("time") or 0)
        match = _PARAMS.match(case.get("name") or "")
        if match is None:
            continue
        name, params = match["name"], match["params"] or ""
        group = result.groups[name]
        group[1] += 1
        group[0] += outcome == "passed"
        context = _fault_context(name, params)
        if context is not None:
            fault, where = context
            result.faults[fault][where] = "survived" if outcome == "passed" else "FAILED"
    return result


def _fault_context(name: str, params: str) -> tuple[str, str] | None:
    """(fault, context) of a fault test id, e.g. ``test_cepo_stage_fault[500-plan-json]``."""
    parts = params.split("-")
    if name == "test_passthrough_fault":
        return "-".join(parts[:-1]), f"pass-through {parts[-1]}"
    if name == "test_cepo_stage_fault":
        return "-".join(parts[:-2]), f"CePO {parts[-2]} {parts[-1]}"
    if name == "test_cepo_live_answer_fault":
        return params, "CePO live answer stream"
    if name == "test_connection_refused":
        return "connection-refused", f"{'CePO' if 'cepo' in params else 'pass-through'} " + (
            "stream" if params.endswith("stream") else "json"
        )
    return None
