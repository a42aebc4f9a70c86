"""Scenario 4: start-up time to ``/health``, idle resident memory, installed size.

Start-up is timed from ``Popen`` to the first 200 from ``/health``, ``startup_repeats``
times for the proxy (fresh process each time), once for optillm (``--approach none``;
its start-up is long). The proxy is timed twice: in the running environment (``.venv``,
with the dev and bench tools, some of which change what imports at start-up: httpx loads
its command-line client when ``rich`` is installed) and in a runtime-only environment
(``bench/.runtime``: ``pip install -e .`` and nothing else, as ``make run`` and the Docker
image have it), which is what the goals are judged on. Idle memory is read after one
pass-through and one CePO request (so lazily built state exists) and a second of quiet.
Memory under load comes from scenario 2. Installed size: the runtime closure of each
package (:mod:`bench.perf.sizes`, run inside each environment) and the whole virtual
environment on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.perf.procs import (
    OPTILLM_VENV,
    REPO_ROOT,
    Service,
    StartError,
    runtime_python,
    start_optillm,
    start_proxy,
)
from bench.perf.rig import CEPO_MODEL, MODEL, BenchConfig
from bench.perf.stats import median

SIZES_SCRIPT = Path(__file__).with_name("sizes.py")
IDLE_SETTLE_SECONDS = 1.0


def _warm(service: Service, models: list[str]) -> None:
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        for model in models:
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            client.post(f"{service.url}/v1/chat/completions", json=body).raise_for_status()
    time.sleep(IDLE_SETTLE_SECONDS)


def directory_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += stat.st_size
    return total


def closure_bytes(python: str, distribution: str) -> dict[str, Any] | None:
    try:
        result = subprocess.run(
            [python, str(SIZES_SCRIPT), distribution],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _ours(cfg: BenchConfig, base_url: str, log_dir: Path, python: str, tag: str) -> dict[str, Any]:
    """Start-up, memory and size of the proxy run by ``python`` (its environment's)."""
    starts: list[float] = []
    start_cpus: list[float] = []
    idle: list[int] = []
    at_start: list[int] = []
    for index in range(cfg.startup_repeats):
        with start_proxy(
            f"proxy-start-{tag}-{index}", log_dir, upstream_base_url=base_url, python=python
        ) as proxy:
            starts.append(proxy.start_seconds)
            start_cpus.append(proxy.start_cpu_seconds)
            at_start.append(proxy.rss_bytes())
            _warm(proxy, [MODEL, CEPO_MODEL])
            idle.append(proxy.rss_bytes())
    env = Path(python).parent.parent
    return {
        "start_seconds": median(starts),
        "starts": starts,
        "start_cpu_seconds": median(start_cpus),
        "rss_at_start": median([float(v) for v in at_start]),
        "rss_idle": median([float(v) for v in idle]),
        "closure": closure_bytes(python, "cepo-proxy"),
        "venv_bytes": directory_bytes(env),
        "venv": str(env.relative_to(REPO_ROOT) if env.is_relative_to(REPO_ROOT) else env),
    }


def run(
    cfg: BenchConfig, upstream_url: str, log_dir: Path, optillm_available: bool
) -> dict[str, Any]:
    base_url = f"{upstream_url}/v1"
    result: dict[str, Any] = {"ours": _ours(cfg, base_url, log_dir, sys.executable, "dev")}
    if cfg.runtime_env:
        python = runtime_python()
        if python is not None:
            result["ours_runtime"] = _ours(cfg, base_url, log_dir, str(python), "runtime")
    if optillm_available:
        theirs: dict[str, Any] = {}
        try:
            with start_optillm(
                "optillm-start",
                log_dir,
                upstream_base_url=base_url,
                approach="none",
                timeout=cfg.optillm_start_timeout,
            ) as optillm:
                theirs["start_seconds"] = optillm.start_seconds
                theirs["start_cpu_seconds"] = optillm.start_cpu_seconds
                theirs["rss_at_start"] = optillm.rss_bytes()
                _warm(optillm, [MODEL])
                theirs["rss_idle"] = optillm.rss_bytes()
        except StartError as error:
            theirs["error"] = str(error)
        theirs["closure"] = closure_bytes(str(OPTILLM_VENV / "bin" / "python"), "optillm")
        theirs["venv_bytes"] = directory_bytes(OPTILLM_VENV)
        result["optillm"] = theirs
    return result
