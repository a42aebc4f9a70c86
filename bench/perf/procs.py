"""The processes under test: start them on loopback, time their start-up, read their memory.

:class:`Service` is one child process listening on a loopback port. It is started by one
of :func:`start_fake`, :func:`start_proxy` or :func:`start_optillm`, which return once the
process answers its readiness URL (``start_seconds`` is the time from ``Popen`` to the
first good answer), and is stopped by :meth:`Service.stop` (SIGTERM, then SIGKILL after a
bounded wait). Use it as a context manager so it is stopped however the block ends.

:class:`PeakMemory` samples a process's resident set size in a background thread and keeps
the peak, for "memory under load".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where optillm's own virtual environment is installed (git-ignored).
OPTILLM_VENV = REPO_ROOT / "bench" / ".optillm" / "venv"
#: A virtual environment with the proxy and its runtime dependencies only (`pip install -e .`,
#: no dev or bench extras), as `make run` and the Docker image have it; git-ignored.
RUNTIME_VENV = REPO_ROOT / "bench" / ".runtime" / "venv"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
_POLL_SECONDS = 0.005


class StartError(RuntimeError):
    """A process did not become ready; the message carries the end of its output."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """A running child process serving HTTP on ``http://127.0.0.1:port``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    start_seconds: float = 0.0
    #: CPU time (user + system) the process had used when it first answered: the start-up
    #: work itself, which contention on a shared machine does not inflate as it does wall time.
    start_cpu_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        try:
            root = psutil.Process(self.process.pid)
            total = int(root.memory_info().rss)
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += int(child.memory_info().rss)
            return total
        except psutil.Error:
            return 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, wait up to ``STOP_TIMEOUT``, then SIGKILL; always reaps the process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _launch(
    name: str, argv: list[str], env: dict[str, str], log_dir: Path
) -> tuple[subprocess.Popen[bytes], Path, float]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log_path, started


def _wait_ready(
    name: str,
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    started: float,
    timeout: float,
) -> float:
    """Poll ``url`` until it answers 200; return the seconds since ``started``."""
    deadline = started + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while True:
            if process.poll() is not None:
                raise StartError(f"{name} exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if time.perf_counter() > deadline:
                process.kill()
                process.wait(STOP_TIMEOUT)
                raise StartError(f"{name} not ready within {timeout:g}s:\n{_tail(log_path)}")
            time.sleep(_POLL_SECONDS)


def _started(
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    log_dir: Path,
    timeout: float = START_TIMEOUT,
) -> Service:
    process, log_path, started = _launch(name, argv, env, log_dir)
    try:
        seconds = _wait_ready(
            name, process, f"http://127.0.0.1:{port}{ready_path}", log_path, started, timeout
        )
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        raise
    try:
        times = psutil.Process(process.pid).cpu_times()
        cpu = float(times.user + times.system)
    except psutil.Error:
        cpu = 0.0
    return Service(name, process, port, log_path, seconds, cpu)


def _clean_env() -> dict[str, str]:
    """The environment without any ``CEPO_*`` or ``OPENAI_*`` variable of the caller."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("CEPO_", "OPENAI_"))}


def start_fake(
    name: str,
    log_dir: Path,
    *,
    latency: float,
    tokens: int,
    tokens_per_second: float | None,
    model: str,
) -> Service:
    """The scripted upstream (``python -m tests.fake_upstream``, OpenAI personality)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "tests.fake_upstream",
        "--port",
        str(port),
        "--latency",
        f"{latency}",
        "--tokens",
        str(tokens),
        "--personality",
        "openai",
        "--models",
        model,
        "--history-limit",
        "200",
    ]
    if tokens_per_second:
        argv += ["--tokens-per-second", f"{tokens_per_second}"]
    env = {**_clean_env(), "PYTHONPATH": str(REPO_ROOT)}
    return _started(name, argv, env, port, "/_stats", log_dir)


def start_proxy(
    name: str,
    log_dir: Path,
    *,
    upstream_base_url: str,
    settings: dict[str, str] | None = None,
    python: str = sys.executable,
) -> Service:
    """``python -m server serve`` against ``upstream_base_url``; ready at ``/health``."""
    port = free_port()
    env = {
        **_clean_env(),
        "CEPO_UPSTREAM_BASE_URL": upstream_base_url,
        "CEPO_UPSTREAM_KIND": "openai",
        "CEPO_LOG_LEVEL": "warning",
        **(settings or {}),
    }
    argv = [python, "-m", "server", "serve", "--port", str(port)]
    return _started(name, argv, env, port, "/health", log_dir)


def runtime_python() -> Path | None:
    """The Python of :data:`RUNTIME_VENV`, created (once, then refreshed) when missing;
    ``None`` when it cannot be built (no network for pip, for example)."""
    python = RUNTIME_VENV / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(RUNTIME_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO_ROOT)],
            check=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return python


def optillm_executable() -> Path | None:
    """optillm's entry point in its virtual environment, if installed."""
    path = OPTILLM_VENV / "bin" / "optillm"
    return path if path.is_file() else None


def optillm_version() -> str | None:
    """The installed optillm version (read from its metadata, without importing it)."""
    for dist in (OPTILLM_VENV / "lib").glob("python*/site-packages/optillm-*.dist-info"):
        return dist.name.removeprefix("optillm-").removesuffix(".dist-info")
    return None


def start_optillm(
    name: str, log_dir: Path, *, upstream_base_url: str, approach: str, timeout: float
) -> Service:
    """optillm 0.4.0 from its own venv with ``--approach`` against the same upstream."""
    executable = optillm_executable()
    if executable is None:
        raise StartError(f"optillm is not installed in {OPTILLM_VENV}")
    port = free_port()
    env = {
        **_clean_env(),
        "OPENAI_API_KEY": "bench-key",
        # No telemetry, no hub look-ups: nothing leaves the machine.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    argv = [
        str(executable),
        "--approach",
        approach,
        "--base-url",
        upstream_base_url,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    return _started(name, argv, env, port, "/health", log_dir, timeout)


class PeakMemory:
    """Samples ``service.rss_bytes()`` every ``interval`` seconds while active; keeps the peak."""

    def __init__(self, service: Service, interval: float = 0.02) -> None:
        self.service = service
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.service.rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self.service.rss_bytes()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.peak = max(self.peak, self.service.rss_bytes())
