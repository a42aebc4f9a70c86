"""The client side of the benchmark: timed chat completion requests, one or many at once.

:func:`timed_request` sends one request and returns a :class:`Sample`: time to the first
SSE event (streams) or to the whole body (JSON), total time, events seen, the parsed
``usage`` and ``cepo`` objects when the answer carried them, and the error if it failed.
A request never raises: failures are samples with ``error`` set, so a run counts them.

:func:`run_wave` runs ``count`` requests with at most ``concurrency`` in flight and
returns the samples and the wall time of the whole wave. Every request has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

USER_MESSAGES = [{"role": "user", "content": "What is six times seven? Think it through."}]


@dataclass
class Sample:
    """One request as the client saw it (seconds from just before sending)."""

    first_event: float | None = None
    total: float = 0.0
    events: int = 0
    status: int = 0
    error: str | None = None
    usage: dict[str, Any] | None = None
    cepo: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def chat_body(model: str, *, stream: bool, usage: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": USER_MESSAGES, "stream": stream}
    if stream and usage:
        body["stream_options"] = {"include_usage": True}
    return body


def new_client(concurrency: int, timeout: float) -> httpx.AsyncClient:
    """A pooled client sized for ``concurrency`` requests, never reading proxy variables."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=10.0),
        limits=httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency),
        trust_env=False,
    )


def _note_chunk(sample: Sample, data: str) -> None:
    try:
        chunk = json.loads(data)
    except ValueError:
        return
    if not isinstance(chunk, dict):
        return
    if isinstance(chunk.get("usage"), dict):
        sample.usage = chunk["usage"]
    if isinstance(chunk.get("cepo"), dict):
        sample.cepo = chunk["cepo"]
    if isinstance(chunk.get("error"), dict):
        sample.error = str(chunk["error"].get("message", "error chunk"))


async def timed_request(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    stop_after_first_event: bool = False,
) -> Sample:
    """Send one chat completion request to ``url`` (the full endpoint URL) and time it.

    With ``stop_after_first_event`` a stream is closed as soon as its first event arrived
    (the client leaves; the server is expected to cancel the work).
    """
    sample = Sample()
    started = time.perf_counter()
    try:
        if body.get("stream"):
            async with client.stream("POST", url, json=body, headers=headers) as response:
                sample.status = response.status_code
                if response.status_code != 200:
                    await response.aread()
                    sample.error = f"HTTP {response.status_code}: {response.text[:200]}"
                else:
                    lines = response.aiter_lines()
                    async for line in lines:
                        if not line.startswith("data:"):
                            continue
                        if sample.first_event is None:
                            sample.first_event = time.perf_counter() - started
                            if stop_after_first_event:
                                break
                        sample.events += 1
                        data = line[5:].strip()
                        if data == "[DONE]":
                            sample.extra["done"] = True
                            continue
                        if any(key in data for key in ('"usage"', '"error"', '"cepo"')):
                            _note_chunk(sample, data)
                    await lines.aclose()  # type: ignore[attr-defined]
                    if not stop_after_first_event and not sample.extra.get("done"):
                        sample.error = sample.error or "stream ended without [DONE]"
        else:
            response = await client.post(url, json=body, headers=headers)
            sample.status = response.status_code
            sample.first_event = time.perf_counter() - started
            if response.status_code != 200:
                sample.error = f"HTTP {response.status_code}: {response.text[:200]}"
            else:
                data = response.json()
                sample.events = 1
                if isinstance(data, dict):
                    usage, cepo = data.get("usage"), data.get("cepo")
                    sample.usage = usage if isinstance(usage, dict) else None
                    sample.cepo = cepo if isinstance(cepo, dict) else None
    except (httpx.HTTPError, ValueError) as error:
        sample.error = f"{type(error).__name__}: {error}"
    sample.total = time.perf_counter() - started
    return sample


@dataclass
class Wave:
    """The result of :func:`run_wave`."""

    samples: list[Sample]
    wall: float

    @property
    def completed(self) -> int:
        return sum(1 for s in self.samples if s.ok)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    def first_errors(self, limit: int = 3) -> list[str]:
        return [s.error for s in self.samples if s.error][:limit]


async def run_wave(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    count: int,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
) -> Wave:
    """``count`` requests, at most ``concurrency`` at once (a closed loop of workers)."""
    remaining = iter(range(count))
    samples: list[Sample] = []

    async def worker() -> None:
        for _ in remaining:
            samples.append(await timed_request(client, url, body, headers=headers))

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, count)):
            group.create_task(worker())
    return Wave(samples, time.perf_counter() - started)
