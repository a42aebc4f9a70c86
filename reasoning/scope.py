"""What every step of one run shares: settings, the caller, the books, the outlet.

A :class:`RunScope` is built once per run by the engine and handed to the candidate
pipeline and the raters. :class:`Candidate` is one candidate's mutable state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reasoning.calls import StepCaller
from reasoning.config import CePOConfig
from reasoning.conversation import Conversation
from reasoning.events import Event, TraceBlock
from reasoning.ledger import RunLedger
from reasoning.llm import LLMResponse
from reasoning.trace import Progress

if TYPE_CHECKING:
    from reasoning.tools import ToolOffer


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """The client's own limits, applied to the step that writes the answer (the final
    step, or the direct-answer fallback) and to no other; so are its ``tools``."""

    max_tokens: int | None = None
    stop: Sequence[str] | None = None
    response_format: Mapping[str, Any] | None = None
    tools: ToolOffer | None = None

    def bound(self, configured: int) -> int:
        """The answer step's token limit: the configured one, lowered to the client's."""
        return configured if self.max_tokens is None else min(configured, self.max_tokens)


@dataclass(slots=True)
class Candidate:
    """One candidate's state. ``final`` is set once it has an answer; ``solution`` is
    the worked solution its answer came from (``None`` after a direct fallback).

    ``answer_key`` and ``answer_form`` describe the answer found in ``final`` (see
    :mod:`reasoning.answers`); ``answer_failed`` is set when an answer was expected and
    none was stated, even after the one retry (``final_retried``).
    ``execution_answers`` holds each successful execution's answer key, for the vote;
    ``plan_answers`` the answer its plan stated, if any (small models often solve the
    problem in the plan), recorded for analysis only.
    """

    number: int
    approach: str | None = None
    executions: list[tuple[int, str]] = field(default_factory=list)
    execution_answers: list[tuple[int, str | None]] = field(default_factory=list)
    plan_answers: list[tuple[int, str | None]] = field(default_factory=list)
    solution: str | None = None
    final: LLMResponse | None = None
    answer_key: str | None = None
    answer_form: str | None = None
    answer_expected: bool = False
    answer_failed: bool = False
    final_retried: bool = False
    #: Whether ``final``'s text already went out as live answer pieces.
    streamed: bool = False
    dropped: bool = False


@dataclass(slots=True)
class RunScope:
    """Shared by all tasks of one run. ``live``: stream the answer step as it comes."""

    config: CePOConfig
    conversation: Conversation
    caller: StepCaller
    ledger: RunLedger
    emit: Callable[[Event], None]
    progress: Progress
    answer: AnswerSettings
    live: bool

    @property
    def question(self) -> str:
        return self.conversation.question

    def note(self, title: str, text: str, candidate: int | None = None) -> None:
        """Emit a ``note`` block (a drop, a fallback, a kept execution...)."""
        self.emit(TraceBlock(title=title, text=text, stage="note", candidate=candidate))
