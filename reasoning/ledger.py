"""The books of one run: every upstream call, rejection, drop, rating and timing.

The engine writes to a :class:`RunLedger` as things happen; :meth:`RunLedger.metadata`
renders the JSON-serialisable ``cepo`` object of the finished run. Stage timings are
wall-clock spans: from the first call of a stage starting to its last call ending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reasoning.llm import LLMError, LLMResponse, TokenUsage


@dataclass(slots=True)
class CallRecord:
    """One upstream call; ``outcome`` is ``running``, ``ok``, ``truncated``, ``failed``
    or ``cancelled``."""

    stage: str
    candidate: int | None
    attempt: int | None
    started: float
    ended: float | None = None
    outcome: str = "running"


@dataclass
class RunLedger:
    """Accounting for one run. Not thread-safe; one event loop only."""

    clock: Callable[[], float] = time.monotonic
    calls: list[CallRecord] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    last_error: LLMError | None = None
    attempts_rejected: list[dict[str, Any]] = field(default_factory=list)
    candidates_dropped: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: list[int] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    refine_kept_first: list[int] = field(default_factory=list)
    finals_against_majority: list[dict[str, Any]] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    context_shortened: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reasoning_effort_dropped: bool = False
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.clock()

    # -- calls ----------------------------------------------------------------------
    def call_started(self, stage: str, candidate: int | None, attempt: int | None) -> CallRecord:
        record = CallRecord(stage, candidate, attempt, self.clock())
        self.calls.append(record)
        return record

    def call_finished(self, record: CallRecord, response: LLMResponse) -> None:
        record.ended = self.clock()
        record.outcome = "truncated" if response.finish_reason == "length" else "ok"
        if response.usage is not None:
            self.usage = self.usage + response.usage
        else:
            self.usage = self.usage + TokenUsage(estimated=True)

    def call_failed(self, record: CallRecord, error: LLMError) -> None:
        record.ended = self.clock()
        record.outcome = "failed"
        self.last_error = error

    def call_cancelled(self, record: CallRecord) -> None:
        record.ended = self.clock()
        record.outcome = "cancelled"

    # -- rendering --------------------------------------------------------------------
    def stage_timings(self) -> dict[str, float]:
        spans: dict[str, tuple[float, float]] = {}
        for record in self.calls:
            end = record.ended if record.ended is not None else self.clock()
            first, last = spans.get(record.stage, (record.started, end))
            spans[record.stage] = (min(first, record.started), max(last, end))
        return {stage: round(last - first, 6) for stage, (first, last) in spans.items()}

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """The ``cepo`` object: the books plus ``extra`` keys (chosen candidate, config...)."""
        outcomes = [record.outcome for record in self.calls]
        return {
            "upstream_calls": len(self.calls),
            "calls_cancelled": outcomes.count("cancelled"),
            "calls_failed": outcomes.count("failed"),
            "calls_truncated": outcomes.count("truncated"),
            "attempts_rejected": list(self.attempts_rejected),
            "candidates_dropped": list(self.candidates_dropped),
            "fallback_candidates": list(self.fallbacks),
            "direct_on_disagreement": list(self.disagreements),
            "refine_kept_first_execution": list(self.refine_kept_first),
            "finals_against_majority": list(self.finals_against_majority),
            "ratings": list(self.ratings),
            "stage_timings": self.stage_timings(),
            "duration_seconds": round(self.clock() - self.started, 6),
            "usage_estimated": self.usage.estimated,
            "context_shortened": bool(self.context_shortened),
            "context_shortenings": list(self.context_shortened),
            "notes": list(self.notes),
            "reasoning_effort_dropped": self.reasoning_effort_dropped,
            **extra,
        }
