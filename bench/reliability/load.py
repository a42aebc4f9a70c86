"""Load rounds against a proxy process and a scripted upstream process, both on loopback.

One round = a CePO phase (``cepo_requests`` at once, half streamed) then a pass-through
phase (``stream_requests`` streams at once). Requests start ``stagger`` seconds apart, so
"oldest first" has a meaning; every request records when it started and ended and whether
it was answered correctly. After each round the proxy's resident memory is read (psutil,
from ``/proc``) once it is idle, and the upstream's peak of calls in flight is read from the
fake's ``GET /_stats``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
ANSWER_MARK = "42"


@dataclass(frozen=True)
class LoadConfig:
    """The stated limits of a load run (every figure is reported with them)."""

    cepo_requests: int = 200
    stream_requests: int = 500
    rounds: int = 5
    #: Upstream: seconds before each answer's headers, words per answer, stream pacing.
    upstream_latency: float = 0.05
    upstream_tokens: int = 16
    upstream_tokens_per_second: float | None = 400.0
    #: Proxy limits (CEPO_UPSTREAM_MAX_CONCURRENCY, CEPO_MAX_CONCURRENT_REASONING,
    #: CEPO_REQUEST_TIMEOUT).
    upstream_max_concurrency: int = 32
    max_concurrent_reasoning: int = 256
    request_timeout: float = 180.0
    #: reasoning_effort of the CePO requests (low: 6 upstream calls; medium: 27).
    preset: str = "low"
    #: Seconds between two request starts within a phase.
    stagger: float = 0.002

    def proxy_settings(self) -> dict[str, str]:
        return {
            "CEPO_UPSTREAM_MAX_CONCURRENCY": str(self.upstream_max_concurrency),
            "CEPO_MAX_CONCURRENT_REASONING": str(self.max_concurrent_reasoning),
            "CEPO_REASONING_QUEUE_TIMEOUT": "30",
            "CEPO_REQUEST_TIMEOUT": str(self.request_timeout),
            "CEPO_UPSTREAM_READ_TIMEOUT": "60",
            "CEPO_SHUTDOWN_GRACE_SECONDS": "2",
        }


@dataclass
class Outcome:
    """One request of a phase."""

    index: int
    started: float
    ended: float
    status: int
    ok: bool
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class PhaseResult:
    kind: str
    requests: int
    errors: int
    seconds: float
    latency_p50: float
    latency_max: float
    upstream_calls: int
    upstream_max_open_calls: int
    order_agreement: float
    first_quarter_mean_end: float
    last_quarter_mean_end: float
    deadline_misses: int
    error_samples: list[str] = field(default_factory=list)


@dataclass
class RoundResult:
    round: int
    cepo: PhaseResult
    streams: PhaseResult
    rss_bytes_idle: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundResult:
        return cls(
            data["round"],
            PhaseResult(**data["cepo"]),
            PhaseResult(**data["streams"]),
            data["rss_bytes_idle"],
        )


def _cepo_body(index: int, preset: str) -> dict[str, Any]:
    return {
        "model": "cepo-fake-model",
        "messages": QUESTION,
        "reasoning_effort": preset,
        "stream": index % 2 == 0,
    }


def _stream_body(index: int) -> dict[str, Any]:
    return {"model": "fake-model", "messages": QUESTION, "stream": True}


def _judge(response: httpx.Response, text: str) -> tuple[bool, str | None]:
    """Whether the answer is whole and correct; the reason when not."""
    if response.status_code != 200:
        return False, f"HTTP {response.status_code}: {text[:200]}"
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        if not lines or lines[-1] != "[DONE]":
            return False, "stream did not end with [DONE]"
        content = ""
        for line in lines[:-1]:
            chunk = json.loads(line)
            if "error" in chunk:
                return False, f"error chunk: {line[:200]}"
            for choice in chunk.get("choices") or []:
                content += (choice.get("delta") or {}).get("content") or ""
        return (ANSWER_MARK in content), None if ANSWER_MARK in content else "no answer"
    data = json.loads(text)
    content = data["choices"][0]["message"]["content"] or ""
    return (ANSWER_MARK in content), None if ANSWER_MARK in content else "no answer"


async def _one(
    client: httpx.AsyncClient, url: str, index: int, body: dict[str, Any], delay: float
) -> Outcome:
    await asyncio.sleep(delay)
    started = time.monotonic()
    headers = {"X-Reasoning-Mode": "quiet" if index % 4 < 2 else "verbose"}
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            text = (await response.aread()).decode()
        ok, error = _judge(response, text)
        status = response.status_code
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as failure:
        cause = failure.__cause__ or failure.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        ok, error, status = False, f"{type(failure).__name__}: {failure}{detail}", 0
    return Outcome(index, started, time.monotonic(), status, ok, error)


def _agreement(outcomes: list[Outcome]) -> float:
    """Kendall-style agreement of completion order with start order, in [-1, 1]
    (1: every request finished in the order it started)."""
    ordered = sorted(outcomes, key=lambda o: o.started)
    ends = [o.ended for o in ordered]
    concordant = discordant = 0
    for i in range(len(ends)):
        for j in range(i + 1, len(ends)):
            if ends[j] > ends[i]:
                concordant += 1
            elif ends[j] < ends[i]:
                discordant += 1
    pairs = concordant + discordant
    return (concordant - discordant) / pairs if pairs else 1.0


def _stats(url: str) -> dict[str, Any]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        return dict(client.get(f"{url}/_stats").json())


def _reset(url: str) -> None:
    with httpx.Client(timeout=10, trust_env=False) as client:
        client.post(f"{url}/_control", json={"reset": True}).raise_for_status()


async def run_phase(
    kind: str, proxy_url: str, fake_url: str, cfg: LoadConfig, count: int
) -> PhaseResult:
    """``count`` requests of one kind at once (started ``cfg.stagger`` apart)."""
    _reset(fake_url)
    # One fresh connection per request: a pooled connection picked up just as the server
    # closes it for idleness (uvicorn: 5 s) fails on the client's side, not the proxy's.
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(cfg.request_timeout + 30, connect=30)
    url = f"{proxy_url}/v1/chat/completions"
    begun = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        outcomes = await asyncio.gather(
            *(
                _one(
                    client,
                    url,
                    i,
                    _cepo_body(i, cfg.preset) if kind == "cepo" else _stream_body(i),
                    i * cfg.stagger,
                )
                for i in range(count)
            )
        )
    seconds = time.monotonic() - begun
    stats = _stats(fake_url)
    latencies = sorted(o.seconds for o in outcomes)
    by_start = sorted(outcomes, key=lambda o: o.started)
    quarter = max(1, count // 4)
    errors = [o for o in outcomes if not o.ok]
    return PhaseResult(
        kind=kind,
        requests=count,
        errors=len(errors),
        seconds=round(seconds, 3),
        latency_p50=round(latencies[len(latencies) // 2], 3),
        latency_max=round(latencies[-1], 3),
        upstream_calls=int(stats["calls"]),
        upstream_max_open_calls=int(stats["max_open_calls"]),
        order_agreement=round(_agreement(list(outcomes)), 3),
        first_quarter_mean_end=round(sum(o.ended - begun for o in by_start[:quarter]) / quarter, 3),
        last_quarter_mean_end=round(sum(o.ended - begun for o in by_start[-quarter:]) / quarter, 3),
        deadline_misses=sum(1 for o in outcomes if o.seconds >= cfg.request_timeout),
        error_samples=[f"#{o.index}: {o.error}" for o in errors[:5]],
    )


def settle_rss(read_rss: Any, seconds: float = 1.0) -> int:
    """The process's RSS once the round's connections have closed (read after a pause)."""
    time.sleep(seconds)
    return int(read_rss())


def run_rounds(
    proxy_url: str,
    fake_url: str,
    read_rss: Any,
    cfg: LoadConfig,
    progress: Any = None,
) -> list[RoundResult]:
    """``cfg.rounds`` rounds; ``read_rss()`` gives the proxy's resident memory in bytes."""
    results = []
    for number in range(1, cfg.rounds + 1):
        cepo = asyncio.run(run_phase("cepo", proxy_url, fake_url, cfg, cfg.cepo_requests))
        streams = asyncio.run(run_phase("streams", proxy_url, fake_url, cfg, cfg.stream_requests))
        result = RoundResult(number, cepo, streams, settle_rss(read_rss))
        results.append(result)
        if progress is not None:
            progress(result)
    return results
