"""What every scenario shares: the run's parameters and the scripted upstream's admin routes.

:class:`BenchConfig` holds every knob of one run (defaults: the full benchmark; ``quick()``:
the CI smoke run). :class:`FakeAdmin` reads and steers a fake upstream in another process
through ``GET /_stats`` and ``POST /_control``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

MODEL = "fake-model"
CEPO_MODEL = f"cepo-{MODEL}"


@dataclass(frozen=True)
class PresetShape:
    """A preset as the benchmark runs it: its name, the steps of its critical path (one
    upstream call each, the rest of the run's calls running beside them) and the
    ``reasoning_effort`` that picks it in a request (``None``: the proxy's default preset).
    """

    name: str
    critical_path: tuple[str, ...]
    effort: str | None = None

    @property
    def critical_path_calls(self) -> int:
        return len(self.critical_path)


#: The preset the CePO scenarios run against optillm: the paper's plan-and-execute shape,
#: which optillm runs; the proxy under test starts with it as its default preset.
PLANNED = PresetShape("planned", ("plan", "execute", "refine", "final", "rate"))
#: The proxy's own default preset, plan-free since session 7 of bench/RESULTS.md (samples,
#: then refine and final per candidate, majority rating); picked per request by its effort.
DEFAULT_PRESET = PresetShape("medium", ("sample", "refine", "final"), effort="medium")


@dataclass(frozen=True)
class BenchConfig:
    """The parameters of one benchmark run (all counts and durations bounded)."""

    latency: float = 0.2
    tokens: int = 64
    tokens_per_second: float = 1000.0
    sweep_latencies: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    repeats: int = 3
    first_event_samples: int = 40
    concurrency_levels: tuple[int, ...] = (1, 8, 32, 128)
    optillm_concurrency_levels: tuple[int, ...] = (1, 8, 32)
    passthrough_tokens: int = 32
    passthrough_requests: int = 600
    passthrough_concurrency: tuple[int, ...] = (1, 64)
    many_streams: int = 500
    startup_repeats: int = 3
    #: Also time start-up in a runtime-only environment (bench/.runtime, built once).
    runtime_env: bool = True
    scenarios: frozenset[int] = frozenset({1, 2, 3, 4})
    optillm: bool = True
    optillm_start_timeout: float = 180.0
    request_timeout: float = 120.0
    out_dir: Path = Path("bench/out")
    proxy_settings: dict[str, str] = field(
        default_factory=lambda: {
            # Let the engine's own concurrency show: no admission queue, a wide upstream limit.
            "CEPO_UPSTREAM_MAX_CONCURRENCY": "1024",
            "CEPO_MAX_CONCURRENT_REASONING": "512",
            "CEPO_REASONING_QUEUE_TIMEOUT": "30",
        }
    )

    @property
    def generation_seconds(self) -> float:
        """Time the fake takes to generate one reply at the configured speed."""
        return self.tokens / self.tokens_per_second if self.tokens_per_second else 0.0

    def ideal(self, latency: float | None = None, preset: PresetShape = PLANNED) -> float:
        """The ideal wall time of one request of ``preset``: its critical path's calls back
        to back at ``latency`` (default: the run's), no overhead."""
        per_call = (self.latency if latency is None else latency) + self.generation_seconds
        return preset.critical_path_calls * per_call

    def quick(self) -> BenchConfig:
        """A seconds-long run for CI: tiny latency and counts, no optillm, no chart sweep."""
        return replace(
            self,
            latency=0.02,
            tokens=8,
            sweep_latencies=(0.02,),
            repeats=1,
            first_event_samples=3,
            concurrency_levels=(1, 4),
            optillm_concurrency_levels=(),
            passthrough_requests=20,
            passthrough_concurrency=(1, 4),
            many_streams=20,
            startup_repeats=1,
            runtime_env=False,
            optillm=False,
        )


class FakeAdmin:
    """The admin routes of one fake upstream (``url`` without ``/v1``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(timeout=10.0, trust_env=False)

    def stats(self) -> dict[str, Any]:
        answer = self._http.get(f"{self.url}/_stats")
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def control(self, **order: Any) -> dict[str, Any]:
        answer = self._http.post(f"{self.url}/_control", json=order)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def reset(self) -> None:
        self.control(reset=True)

    def wait_idle(self, timeout: float = 10.0, *, quiet: float = 0.0) -> bool:
        """Wait until no chat call is open and, with ``quiet``, none has started for that
        many seconds either (True), or ``timeout`` passes (False).

        ``quiet`` is for after requests whose client left early: the proxy may still send
        calls for them after the fake looked idle, which the next counted request would
        otherwise count.
        """
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while True:
            stats, now = self.stats(), time.monotonic()
            if stats["open_calls"] or stats["calls"] != seen:
                seen, since = stats["calls"], now
            if not stats["open_calls"] and now - since >= quiet:
                return True
            if now > deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        self._http.close()
