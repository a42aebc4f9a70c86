"""The CePO engine: runs the method for one request and yields its events.

Everything independent runs at once: the candidates, each candidate's planning
attempts, and the ratings (an absolute, binary or blind rating starts as soon as its
own candidate's answer is ready; a pairwise comparison as soon as both of its answers
are). With the default config and no truncation or answer retry a run makes 27
upstream calls and its critical path is 5 calls long (plan, execute, refine, final,
rate). A candidate that states no answer where one is expected is not rated. The only bound on
concurrency is the client's.

Structure: :meth:`CePOEngine.run` is an async generator that owns one worker task
for its whole life; the worker runs all calls in task groups and posts events to a
queue the generator drains. Closing
the generator (``aclose``) or cancelling its consumer cancels every in-flight call
at once and waits for them; nothing is left running and ``CancelledError`` is never
swallowed. Trace blocks and status lines all precede the first answer piece.

Deadline: when ``RunRequest.deadline`` passes, all in-flight calls are cancelled;
the answer is chosen among candidates that already have one by majority of their
extracted answers (ties as in :mod:`reasoning.selection`) with no further call, and
``metadata["deadline_hit"]`` is true. With no finished candidate,
:class:`DeadlineExceeded` is raised. A single live-streamed answer interrupted by
the deadline is not finished, so that too raises :class:`DeadlineExceeded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning import prompts
from reasoning.approaches import parse_approaches
from reasoning.calls import Step, StepCaller
from reasoning.candidate import run_candidate
from reasoning.config import CePOConfig
from reasoning.conversation import Conversation
from reasoning.errors import DeadlineExceeded, ReasoningFailed
from reasoning.events import AnswerDelta, Event, RunFinished, StatusUpdate, TraceBlock
from reasoning.history import without_old_reasoning
from reasoning.ledger import RunLedger
from reasoning.llm import LLMClient, LLMError, Message, TokenUsage
from reasoning.rating import compare, rate_absolute, rate_binary
from reasoning.scope import AnswerSettings, Candidate, RunScope
from reasoning.selection import Choice, Finalist, choose, majority_scores
from reasoning.tools import ToolOffer, majority_kind, tool_turns_as_text
from reasoning.trace import Progress, step_text


@dataclass(frozen=True)
class RunRequest:
    """One CePO run.

    ``model`` is the upstream model id (prefix removed). ``answer_max_tokens``,
    ``stop`` and ``response_format`` apply to the step that writes the answer only.
    ``forward`` (e.g. ``seed``, ``user``) goes into every call's ``extra``.
    ``deadline`` is an absolute :func:`time.monotonic` time. ``preset`` names the
    preset the config came from, for the metadata only. ``tools``: the client's tools,
    offered to the answer step only (:mod:`reasoning.tools`).
    """

    model: str
    messages: Sequence[Message]
    config: CePOConfig
    answer_max_tokens: int | None = None
    stop: Sequence[str] | None = None
    response_format: Mapping[str, Any] | None = None
    forward: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    preset: str | None = None
    tools: ToolOffer | None = None


class CePOEngine:
    """Runs CePO against one :class:`LLMClient`; holds no per-run state."""

    def __init__(self, client: LLMClient) -> None:
        self._client = client

    async def run(self, request: RunRequest) -> AsyncGenerator[Event, None]:
        """Yield the run's events, ending with exactly one :class:`RunFinished`.

        Raises :class:`ReasoningFailed` when no candidate survives,
        :class:`DeadlineExceeded` when the deadline passes with no finished candidate,
        :class:`InvalidConversation` when there is no user message. Wrap in
        :func:`contextlib.aclosing`; closing early cancels all upstream calls.
        """
        run = _Run(self._client, request)
        async with _running(run.execute()):
            while True:
                item = await run.outbox.get()
                if isinstance(item, _End):
                    break
                yield item
        if item.error is not None:
            raise item.error
        assert item.finished is not None
        yield item.finished


@contextlib.asynccontextmanager
async def _running(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` in a task for the duration of the block; on leaving, however the
    block ends (generator closed, consumer cancelled), cancel it and wait until it and
    every call it started have ended.

    A task group is not used here on purpose: the block yields from an async
    generator, and a task group would wrap the ``GeneratorExit`` of ``aclose()`` in an
    exception group. ``work`` itself runs its calls in task groups.
    """
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task})


@dataclass(frozen=True, slots=True)
class _End:
    finished: RunFinished | None = None
    error: BaseException | None = None


class _Run:
    """The state and work of one run."""

    def __init__(self, client: LLMClient, request: RunRequest) -> None:
        self.client = client
        self.request = request
        self.config = request.config
        self.outbox: asyncio.Queue[Event | _End] = asyncio.Queue()
        self.ledger = RunLedger()
        self.answer_started = False
        self.scores: dict[int, float] = {}
        self.finished: list[Candidate] = []
        self.group: asyncio.TaskGroup | None = None

    def emit(self, event: Event) -> None:
        """Queue ``event``; progress events after the answer began are dropped."""
        if isinstance(event, AnswerDelta):
            self.answer_started = True
        elif self.answer_started and isinstance(event, TraceBlock | StatusUpdate):
            return
        self.outbox.put_nowait(event)

    async def execute(self) -> None:
        """Do the run; post its end (result or error) to the outbox. Never raises
        except for cancellation."""
        try:
            finished = await self._work()
        except Exception as error:  # handed to the consumer, raised there
            self.outbox.put_nowait(_End(error=error))
        else:
            self.outbox.put_nowait(_End(finished=finished))

    async def _work(self) -> RunFinished:
        request, config = self.request, self.config
        progress = Progress(self.emit, config)
        progress.started()  # before any upstream call: the client sees the run begin
        messages = tool_turns_as_text(without_old_reasoning(request.messages), request.tools)
        conversation = Conversation.from_messages(messages)
        context_length = await self._context_length()
        caller = StepCaller(
            self.client,
            request.model,
            conversation,
            request.forward,
            context_length,
            self.ledger,
            self.emit,
            reasoning_effort=config.upstream_reasoning_effort,
        )
        self.scope = RunScope(
            config=config,
            conversation=conversation,
            caller=caller,
            ledger=self.ledger,
            emit=self.emit,
            progress=progress,
            answer=AnswerSettings(
                request.answer_max_tokens, request.stop, request.response_format, request.tools
            ),
            live=config.bestofn_n == 1,
        )
        if request.tools is not None:
            self.scope.note(
                "Tools offered to the final step",
                "Planning, execution, refinement and rating run without tools; the step "
                "that writes the answer may call one of these:\n" + request.tools.describe(),
            )
        candidates = [Candidate(number) for number in range(1, config.bestofn_n + 1)]
        deadline_hit = False
        timeout = asyncio.timeout_at(self._loop_deadline())
        try:
            async with timeout:
                if config.plan_diversity:
                    await self._seed_approaches(candidates)
                progress.planning()
                async with asyncio.TaskGroup() as group:
                    self.group = group
                    for candidate in candidates:
                        group.create_task(self._candidate_flow(candidate))
        except TimeoutError:
            if not timeout.expired():
                raise
            deadline_hit = True
        return self._finish(candidates, deadline_hit, context_length)

    async def _context_length(self) -> int | None:
        timeout = asyncio.timeout_at(self._loop_deadline())
        try:
            async with timeout:
                return await self.client.context_length(self.request.model)
        except TimeoutError:
            if timeout.expired():
                raise DeadlineExceeded() from None
            raise
        except LLMError as error:
            self.ledger.notes.append(f"context length unknown ({error.message}); not fitted")
            return None

    def _loop_deadline(self) -> float | None:
        if self.request.deadline is None:
            return None
        loop = asyncio.get_running_loop()
        return loop.time() + (self.request.deadline - time.monotonic())

    # -- work ------------------------------------------------------------------------
    async def _seed_approaches(self, candidates: list[Candidate]) -> None:
        scope, count = self.scope, len(candidates)
        scope.progress.say(f"Looking for {count} different approaches")
        step = Step(
            stage="diversity",
            label="Distinct approaches",
            task=lambda _: prompts.diversity_task(scope.question, count),
            pieces=(),
            temperature=self.config.diversity_temperature,
            max_tokens=self.config.diversity_max_tokens,
        )
        try:
            response = await scope.caller.complete(step)
        except LLMError as error:
            scope.note("Distinct approaches: failed", f"{error.message}; planning unseeded.")
            return
        approaches = parse_approaches(response.text, count)
        scope.emit(
            TraceBlock(
                f"Distinct approaches ({len(approaches)} found)", step_text(response), "diversity"
            )
        )
        self.ledger.notes.append(f"plan diversity: {len(approaches)} approaches parsed")
        if not approaches:
            scope.note("Distinct approaches: none readable", "Planning goes on unseeded.")
            return
        for index, candidate in enumerate(candidates):
            candidate.approach = approaches[index % len(approaches)]

    async def _candidate_flow(self, candidate: Candidate) -> None:
        await run_candidate(self.scope, candidate)
        if candidate.final is None or self.config.bestofn_n == 1:
            return
        rating = self.config.bestofn_rating_type
        if candidate.answer_failed and rating in ("absolute", "binary", "blind"):
            self.finished.append(candidate)  # left out of the selection: no rating spent
            return
        if rating == "absolute":
            await rate_absolute(self.scope, candidate, self.scores)
        elif rating in ("binary", "blind"):
            await rate_binary(self.scope, candidate, self.scores, blind=rating == "blind")
        elif rating == "pairwise":
            assert self.group is not None
            self.scope.progress.comparisons_added(2 * len(self.finished))
            for other in self.finished:
                self.group.create_task(compare(self.scope, other, candidate, self.scores))
                self.group.create_task(compare(self.scope, candidate, other, self.scores))
        self.finished.append(candidate)

    # -- choosing ------------------------------------------------------------------------
    def _finish(
        self, candidates: list[Candidate], deadline_hit: bool, context_length: int | None
    ) -> RunFinished:
        scope = self.scope
        finalists = [c for c in candidates if c.final is not None]
        if not finalists:
            if deadline_hit:
                raise DeadlineExceeded()
            raise ReasoningFailed.from_last_error(self.ledger.last_error)
        finished = finalists
        finalists, tool_rule = majority_kind(finished)
        entries = [Finalist(c.number, c.answer_key, c.answer_failed) for c in finalists]
        pool = _execution_pool(candidates)
        rule_name = self.config.selection_rule
        if deadline_hit:
            scores = majority_scores(entries)
            rule_name = "majority"
            rule = "majority of extracted answers (deadline reached)"
        elif self.config.bestofn_rating_type == "majority":
            scores = majority_scores(entries)
            rule = f"{rule_name} (majority rating: no rating calls)"
        else:
            scores = self.scores
            rule = f"{rule_name} ({self.config.bestofn_rating_type} rating)"
        if tool_rule is not None:
            rule = f"{tool_rule}; then {rule}"
        if rule_name == "pool_judges":
            pool += [r.get("judge_answer") for r in self.ledger.ratings]
        if len(finished) > 1:
            scope.progress.say(f"Choosing among {len(finished)} answers")
        choice = choose(entries, scores, rule=rule_name, pool=pool)
        chosen = next(c for c in finalists if c.number == choice.candidate)
        if deadline_hit:
            scope.note(
                "Deadline reached",
                f"The request's deadline cut the run short; {len(finalists)} of "
                f"{len(candidates)} candidates had an answer. No further call was made.",
            )
        if not scope.live:
            scope.emit(TraceBlock("Selection", _selection_text(choice, finalists, rule), "select"))
        final = chosen.final
        assert final is not None
        if final.text and not chosen.streamed:
            self.emit(AnswerDelta(final.text))
        metadata = self.ledger.metadata(
            chosen_candidate=chosen.number,
            selection={
                "rule": rule,
                "decided_by": choice.decided_by,
                "scores": [
                    {"candidate": number, "score": score} for number, score in choice.scores.items()
                ],
                "eligible": list(choice.eligible),
                "votes": [
                    {"candidate": number, "votes": count} for number, count in choice.votes.items()
                ],
                "extracted_answers": [
                    {
                        "candidate": c.number,
                        "answer": c.answer_key,
                        "form": c.answer_form,
                        "expected": c.answer_expected,
                        "failed": c.answer_failed,
                        "retried": c.final_retried,
                    }
                    for c in finished
                ],
                "execution_answers": [
                    {"candidate": c.number, "attempt": attempt, "answer": key}
                    for c in candidates
                    for attempt, key in c.execution_answers
                ],
                "plan_answers": [
                    {"candidate": c.number, "attempt": attempt, "answer": key}
                    for c in candidates
                    for attempt, key in c.plan_answers
                ],
            },
            answers_failed=[c.number for c in finished if c.answer_failed],
            answers_retried=[c.number for c in candidates if c.final_retried],
            candidates=len(candidates),
            candidates_finished=len(finished),
            deadline_hit=deadline_hit,
            context_length=context_length,
            preset=self.request.preset,
            config=self.config.model_dump(),
        )
        if self.request.tools is not None:
            metadata["tools"] = {
                "offered": len(self.request.tools.tools),
                "candidates_calling_tools": [
                    c.number for c in finished if c.final and c.final.tool_calls
                ],
                "answer": "tool_calls" if final.tool_calls else "text",
                "rule": tool_rule,
            }
        return RunFinished(
            answer=final.text,
            finish_reason="tool_calls" if final.tool_calls else (final.finish_reason or "stop"),
            usage=self.ledger.usage,
            answer_usage=final.usage or TokenUsage(estimated=True),
            metadata=metadata,
            tool_calls=final.tool_calls,
        )


def _execution_pool(candidates: list[Candidate]) -> list[str | None]:
    """Every successful execution's answer key, for the ``pool`` rules."""
    return [key for c in candidates for _, key in c.execution_answers]


def _selection_text(choice: Choice, finalists: list[Candidate], rule: str) -> str:
    lines = [f"Rule: {rule}."]
    for candidate in finalists:
        answer = candidate.answer_key if candidate.answer_key is not None else "(none found)"
        if candidate.number not in choice.eligible:
            lines.append(
                f"Candidate {candidate.number}: stated no answer (extracted {answer}); left out"
            )
            continue
        lines.append(
            f"Candidate {candidate.number}: score {choice.scores[candidate.number]:g}, "
            f"extracted answer {answer}, agrees with {choice.agreement[candidate.number]} "
            f"other(s), {choice.votes[candidate.number]} vote(s) in the run's answers"
        )
    reasons = {
        "only candidate": "it is the only candidate with an answer",
        "score": "it has the highest score",
        "agreement": "its answer agrees with the most other candidates",
        "votes": "its answer is the most frequent among all the run's answers",
        "order": "tied on every criterion; it comes first",
        "unanimous": "every candidate gave the same answer; it comes first among the best",
    }
    lines.append(f"Chosen: candidate {choice.candidate} ({reasons[choice.decided_by]}).")
    return "\n".join(lines)
