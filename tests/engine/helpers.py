"""Running the engine in tests: collect a run's events within a time bound."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from reasoning.config import CePOConfig
from reasoning.engine import CePOEngine, RunRequest
from reasoning.events import AnswerDelta, Event, RunFinished, StatusUpdate, TraceBlock
from tests.engine.scripted_client import ScriptedClient

QUESTION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 40 + 2?"},
]


def request(config: CePOConfig | None = None, **fields: Any) -> RunRequest:
    fields.setdefault("messages", QUESTION)
    return RunRequest(model="m", config=config or CePOConfig(), **fields)


async def collect(client: ScriptedClient, run: RunRequest, limit: float = 5.0) -> list[Event]:
    """All events of one run (raises what the run raises)."""
    events: list[Event] = []
    async with asyncio.timeout(limit):
        async with contextlib.aclosing(CePOEngine(client).run(run)) as stream:
            async for event in stream:
                events.append(event)
    return events


def finished(events: Sequence[Event]) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    assert sum(isinstance(event, RunFinished) for event in events) == 1
    return events[-1]


def answer(events: Sequence[Event]) -> str:
    return "".join(event.text for event in events if isinstance(event, AnswerDelta))


def blocks(events: Sequence[Event], stage: str | None = None) -> list[TraceBlock]:
    return [e for e in events if isinstance(e, TraceBlock) and (stage is None or e.stage == stage)]


def statuses(events: Sequence[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, StatusUpdate)]
