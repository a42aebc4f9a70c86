"""What a CePO run tells its caller, in order.

A run yields any number of :class:`TraceBlock` and :class:`StatusUpdate` events (both
kinds always: the server shows blocks in verbose mode and status lines in quiet mode),
then the answer as :class:`AnswerDelta` pieces, then exactly one :class:`RunFinished`.
No trace block or status line follows the first answer piece. Candidates are numbered
from 1 everywhere (events, metadata).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reasoning.llm import TokenUsage

#: Values of :attr:`TraceBlock.stage`.
STAGES = frozenset(
    {"diversity", "plan", "execute", "refine", "final", "rate", "select", "fallback", "note"}
)


@dataclass(frozen=True, slots=True)
class TraceBlock:
    """One finished step, complete and labelled; never split or interleaved.

    ``text`` is the step's output; when the upstream model reasoned on its own, that
    thinking is included, marked as such. Rating blocks include the verdict.
    """

    title: str
    text: str
    stage: str
    candidate: int | None = None
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A short progress line with no model text, e.g. ``Executing the plans``."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A piece of the final answer's content."""

    text: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run's last event.

    ``usage`` sums every upstream call that reported usage; ``answer_usage`` is the
    usage of the call that produced the chosen answer (its completion tokens are the
    non-reasoning tokens). ``metadata`` is the JSON-serialisable ``cepo`` object.
    ``tool_calls``: the answer's tool calls when it is one (``finish_reason`` is then
    ``"tool_calls"``; ``answer`` may be empty).
    """

    answer: str
    finish_reason: str
    usage: TokenUsage
    answer_usage: TokenUsage
    metadata: dict[str, Any] = field(default_factory=dict)
    tool_calls: tuple[Mapping[str, Any], ...] = ()


Event = TraceBlock | StatusUpdate | AnswerDelta | RunFinished
