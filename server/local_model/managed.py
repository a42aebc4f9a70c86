"""A llama.cpp OpenAI-compatible server run as a supervised child process.

:class:`ManagedLlamaServer` is an async context manager. Entering it starts
``python -m llama_cpp.server`` on 127.0.0.1 and a free port and returns once
``GET /v1/models`` answers; inside the block the server is supervised (restarted
with growing backoff when it dies, and ready again before the restart is reported);
leaving the block stops it (SIGTERM, then SIGKILL after ``stop_timeout``). The
child's stdout and stderr go line by line to the ``cepo_proxy.local`` logger,
prefixed with ``[llama.cpp] ``: lines that mention an error, warning or traceback at
WARNING, the rest (a normal start prints some two thousand lines) at DEBUG. The
manager's own start, ready, restart and stop messages are at INFO, and a failed start
or an unexpected exit reports the child's last lines.

The child runs in its own session, so a Ctrl-C in the terminal reaches only the
proxy, which then stops the child in order. A proxy killed with SIGKILL cannot stop
its child; that child keeps its port until it is killed by hand.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import logging
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from server.local_model.errors import LlamaNotInstalled, LocalServerError
from server.local_model.registry import MODELS
from server.local_model.resolve import model_alias, resolve_model_path

if TYPE_CHECKING:
    from config.settings import Settings

LOGGER_NAME = "cepo_proxy.local"
LOG_PREFIX = "[llama.cpp] "

#: A child that stayed up this long is healthy again: the next restart waits the minimum.
_HEALTHY_UPTIME = 60.0
_POLL_INTERVAL = 0.2
_READ_CHUNK = 1 << 16
_MAX_LINE = 1 << 16
_RECENT_LINES = 30
#: Child lines logged at WARNING; the rest (thousands of model-loading lines) at DEBUG.
_NOTEWORTHY = re.compile(
    r"\b(error|errors|warning|warn|traceback|exception|fatal|abort|aborted|failed)\b",
    re.IGNORECASE,
)


#: Modules ``python -m llama_cpp.server`` needs that the proxy itself does not bring.
LLAMA_SERVER_MODULES = ("llama_cpp", "starlette_context")


def ensure_llama_installed(required: Sequence[str] = LLAMA_SERVER_MODULES) -> None:
    """Raise :class:`LlamaNotInstalled` unless this Python can run ``llama_cpp.server``.

    Only looks the modules up (``find_spec``); nothing is imported.
    """
    missing = [module for module in required if importlib.util.find_spec(module) is None]
    if missing:
        raise LlamaNotInstalled(
            f"the local upstream needs llama-cpp-python with its server extra in {sys.executable} "
            f"(missing: {', '.join(missing)}); install the local extra: make setup, or "
            f"scripts/install_llama.sh {sys.executable}"
        )


def default_threads() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def effective_n_ctx(spec: str, configured: int) -> int:
    """The context to start a model with: its full trained context, at least ``configured``.

    For a ``.gguf`` path the trained context is not known here, so ``configured`` is used.
    """
    model = MODELS.get(spec)
    return max(configured, model.context_length) if model is not None else configured


def free_port(host: str) -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ManagedLlamaServer:
    """A llama.cpp server child, started, supervised and stopped by ``async with``.

    ``program`` replaces ``[sys.executable, "-m", "llama_cpp.server"]`` (tests run a
    fake server with the same arguments); the installation check only applies to the
    default. ``base_url`` (``http://127.0.0.1:PORT/v1``) keeps its value across
    restarts. Raises :class:`LlamaNotInstalled` or :class:`LocalServerError` (with the
    child's last log lines) from ``__aenter__``.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str,
        n_ctx: int = 8192,
        threads: int | None = None,
        start_timeout: float = 120.0,
        host: str = "127.0.0.1",
        program: Sequence[str] | None = None,
        extra_args: Sequence[str] = (),
        restart_backoff: float = 1.0,
        max_restart_backoff: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.model_path = model_path
        self.alias = alias
        self.n_ctx = n_ctx
        self.threads = threads or default_threads()
        self.start_timeout = start_timeout
        self.host = host
        self._program = list(program) if program is not None else None
        self._extra_args = list(extra_args)
        self._restart_backoff = restart_backoff
        self._max_restart_backoff = max_restart_backoff
        self._stop_timeout = stop_timeout
        self._logger = logging.getLogger(LOGGER_NAME)
        self._recent: collections.deque[str] = collections.deque(maxlen=_RECENT_LINES)
        self._port: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @classmethod
    def from_settings(cls, settings: Settings, cache_dir: Path | None = None) -> ManagedLlamaServer:
        """The server ``settings.local_*`` describe; raises if the model is not pulled."""
        spec = settings.local_model
        return cls(
            resolve_model_path(spec, cache_dir),
            alias=model_alias(spec),
            n_ctx=effective_n_ctx(spec, settings.local_n_ctx),
            threads=settings.local_threads,
            start_timeout=settings.local_start_timeout,
        )

    # -- public state -----------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port the server listens on; chosen when the block is entered."""
        if self._port is None:
            raise RuntimeError("ManagedLlamaServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://HOST:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The current child's process id, ``None`` when no child runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def command(self) -> list[str]:
        """The child's full command line."""
        program = self._program or [sys.executable, "-m", "llama_cpp.server"]
        return [
            *program,
            "--model",
            str(self.model_path),
            "--model_alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--interrupt_requests",
            "False",
            *self._extra_args,
        ]

    # -- lifecycle --------------------------------------------------------------------
    async def __aenter__(self) -> ManagedLlamaServer:
        if self._program is None:
            ensure_llama_installed()
        self._stopping = False
        self._port = free_port(self.host)
        self._logger.info(
            "starting llama.cpp server: model %s as %r, n_ctx %d, %d threads, %s",
            self.model_path,
            self.alias,
            self.n_ctx,
            self.threads,
            self.base_url,
        )
        await self._start_and_wait()
        self._logger.info("llama.cpp server ready at %s (pid %s)", self.base_url, self.pid)
        self._supervisor = asyncio.create_task(self._supervise(), name="llama-supervisor")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        try:
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
        finally:
            await self._stop_process()
        self._logger.info("llama.cpp server stopped")

    # -- internals --------------------------------------------------------------------
    async def _start_and_wait(self) -> None:
        """Start a child and wait until it answers; on failure the child is stopped."""
        self._recent.clear()
        self._process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(self._process.stdout), name="llama-stdout"),
            asyncio.create_task(self._pump(self._process.stderr), name="llama-stderr"),
        ]
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self._stop_process()
            raise

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        url = f"{self.base_url}/models"
        try:
            async with (
                asyncio.timeout(self.start_timeout),
                httpx.AsyncClient(timeout=5.0, trust_env=False) as client,
            ):
                while True:
                    if process.returncode is not None:
                        await self._drain_pumps()
                        raise LocalServerError(
                            f"the llama.cpp server exited with code {process.returncode} "
                            f"while starting; its last lines:\n{self._recent_text()}"
                        )
                    with contextlib.suppress(httpx.TransportError):
                        response = await client.get(url)
                        if response.status_code == 200:
                            return
                    await asyncio.sleep(_POLL_INTERVAL)
        except TimeoutError:
            raise LocalServerError(
                f"the llama.cpp server did not answer {url} within {self.start_timeout:g} s "
                f"(CEPO_LOCAL_START_TIMEOUT); its last lines:\n{self._recent_text()}"
            ) from None

    async def _supervise(self) -> None:
        """Restart the child whenever it exits, waiting longer after each quick death."""
        loop = asyncio.get_running_loop()
        backoff = self._restart_backoff
        while True:
            process = self._process
            assert process is not None
            started = loop.time()
            code = await process.wait()
            await self._drain_pumps()
            uptime = loop.time() - started
            if uptime >= _HEALTHY_UPTIME:
                backoff = self._restart_backoff
            self._logger.warning(
                "llama.cpp server (pid %d) exited with code %s after %.1f s; restarting in %g s;"
                " its last lines:\n%s",
                process.pid,
                code,
                uptime,
                backoff,
                self._recent_text(),
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_restart_backoff)
            try:
                await self._start_and_wait()
            except (LocalServerError, OSError) as error:
                self._logger.error("llama.cpp server restart failed: %s", error)
                continue
            self.restarts += 1
            self._logger.info(
                "llama.cpp server restarted (restart %d), ready at %s", self.restarts, self.base_url
            )

    async def _stop_process(self) -> None:
        """SIGTERM the child, SIGKILL it after ``stop_timeout``, then drain its output."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self._stop_timeout)
            except TimeoutError:
                self._logger.warning(
                    "llama.cpp server did not stop within %g s; killing it", self._stop_timeout
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self._drain_pumps()

    async def _drain_pumps(self) -> None:
        """Wait briefly for the log pumps to reach end of file, then cancel the rest."""
        pumps, self._pumps = self._pumps, []
        if not pumps:
            return
        _, pending = await asyncio.wait(pumps, timeout=2.0)
        for pump in pending:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """Log every line of ``stream`` until end of file."""
        pending = b""
        while chunk := await stream.read(_READ_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._emit(line)
            if len(pending) > _MAX_LINE:
                self._emit(pending)
                pending = b""
        if pending:
            self._emit(pending)

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if not text.strip():
            return
        self._recent.append(text)
        level = logging.WARNING if _NOTEWORTHY.search(text) else logging.DEBUG
        self._logger.log(level, "%s%s", LOG_PREFIX, text)

    def _recent_text(self) -> str:
        return "\n".join(self._recent) or "(no output)"
