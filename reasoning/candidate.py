"""One candidate's pipeline: plan -> execute attempts, refine, final answer.

``planning_n`` attempts start at once. An attempt whose plan or execution is cut off
by its token limit, comes back empty, or fails (:class:`LLMError`) is rejected and
one replacement starts, up to ``planning_m`` attempts in all. With no successful
attempt the candidate answers the question directly (one call, in the final step's
role). Otherwise the refine step reviews every successful execution; if it fails or
is cut off, the first execution (lowest attempt number) stands as the solution. The
final step then answers the question from the solution.

A candidate whose answer step fails is dropped (marked, noted in the trace, and
recorded); the run answers from the others. Blocks are emitted as each call ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from reasoning import prompts
from reasoning.answers import extract_final_answer
from reasoning.calls import Step
from reasoning.events import AnswerDelta, TraceBlock
from reasoning.llm import LLMDelta, LLMError, LLMResponse
from reasoning.scope import Candidate, RunScope
from reasoning.tools import offer_tools
from reasoning.trace import step_text, thinking_text


async def run_candidate(scope: RunScope, candidate: Candidate) -> None:
    """Take ``candidate`` to a final answer (``candidate.final``) or drop it."""
    executions = await _plan_and_execute(scope, candidate)
    try:
        if executions:
            candidate.executions = executions
            candidate.solution = await _refine(scope, candidate)
            final = await _answer(scope, candidate, "final")
        else:
            scope.ledger.fallbacks.append(candidate.number)
            scope.note(
                f"Candidate {candidate.number}: no plan could be carried out",
                "Every planning attempt was cut off or failed, so this candidate answers "
                "the question directly.",
                candidate.number,
            )
            final = await _answer(scope, candidate, "fallback")
    except LLMError as error:
        candidate.dropped = True
        scope.ledger.candidates_dropped.append(
            {"candidate": candidate.number, "reason": error.message, "status": error.status}
        )
        scope.note(
            f"Candidate {candidate.number} dropped",
            f"Its answer step failed ({error.message}); the answer is chosen from the "
            "remaining candidates.",
            candidate.number,
        )
        return
    candidate.final = final
    candidate.answer_key = extract_final_answer(final.text)
    scope.progress.final_ready()


# -- step 1 and 2: planning attempts ------------------------------------------------------


async def _plan_and_execute(scope: RunScope, candidate: Candidate) -> list[tuple[int, str]]:
    """Successful executions as ``(attempt, text)``, ordered by attempt number."""
    config = scope.config
    successes: list[tuple[int, str]] = []
    started = 0

    async with asyncio.TaskGroup() as group:

        def launch() -> None:
            nonlocal started
            started += 1
            group.create_task(attempt(started))

        async def attempt(number: int) -> None:
            execution = await _attempt(scope, candidate, number)
            if execution is not None:
                successes.append((number, execution))
                return
            scope.progress.attempt_rejected()
            if started < config.planning_m:
                launch()

        for _ in range(config.planning_n):
            launch()

    return sorted(successes)


async def _attempt(scope: RunScope, candidate: Candidate, number: int) -> str | None:
    """One plan + execute attempt: the execution's text, or ``None`` if rejected."""
    config = scope.config
    label = f"Candidate {candidate.number} · plan (attempt {number})"
    plan = await _attempt_call(
        scope,
        candidate,
        number,
        Step(
            stage="plan",
            label=label,
            task=lambda _: prompts.plan_task(scope.question, candidate.approach),
            pieces=(),
            temperature=config.planning_temperature,
            max_tokens=config.planning_max_tokens,
            candidate=candidate.number,
            attempt=number,
        ),
    )
    if plan is None:
        return None
    scope.progress.plan_ready()
    label = f"Candidate {candidate.number} · execution (attempt {number})"
    execution = await _attempt_call(
        scope,
        candidate,
        number,
        Step(
            stage="execute",
            label=label,
            task=lambda pieces: prompts.execute_task(scope.question, pieces[0]),
            pieces=(plan,),
            temperature=config.execution_temperature,
            max_tokens=config.execution_max_tokens,
            candidate=candidate.number,
            attempt=number,
        ),
    )
    if execution is None:
        return None
    scope.progress.execution_done()
    return execution


async def _attempt_call(
    scope: RunScope, candidate: Candidate, number: int, step: Step
) -> str | None:
    """Run a plan or execute call; emit its block; ``None`` when the attempt is rejected."""
    try:
        response = await scope.caller.complete(step)
    except LLMError as error:
        _reject(scope, candidate, number, step.stage, "failed", error.message)
        scope.emit(
            TraceBlock(
                f"{step.label} - failed, attempt rejected",
                error.message,
                step.stage,
                candidate.number,
                number,
            )
        )
        return None
    reason = None
    if response.finish_reason == "length":
        reason = "truncated"
    elif not response.text.strip():
        reason = "empty"
    title = step.label if reason is None else f"{step.label} - {reason}, attempt rejected"
    scope.emit(TraceBlock(title, step_text(response), step.stage, candidate.number, number))
    if reason is not None:
        _reject(scope, candidate, number, step.stage, reason, None)
        return None
    return response.text


def _reject(
    scope: RunScope,
    candidate: Candidate,
    number: int,
    stage: str,
    reason: str,
    detail: str | None,
) -> None:
    scope.ledger.attempts_rejected.append(
        {
            "candidate": candidate.number,
            "attempt": number,
            "stage": stage,
            "reason": reason,
            "detail": detail,
        }
    )


# -- step 3: refine ----------------------------------------------------------------------


async def _refine(scope: RunScope, candidate: Candidate) -> str:
    """The refined solution, or the first execution when refining fails or is cut off."""
    config = scope.config
    texts: Sequence[str] = [text for _, text in candidate.executions]
    label = f"Candidate {candidate.number} · refine"
    step = Step(
        stage="refine",
        label=label,
        task=lambda pieces: prompts.refine_task(scope.question, pieces),
        pieces=texts,
        temperature=config.refine_temperature,
        max_tokens=config.refine_max_tokens,
        candidate=candidate.number,
    )
    problem: str | None = None
    try:
        response = await scope.caller.complete(step)
    except LLMError as error:
        problem = f"the refine step failed ({error.message})"
    else:
        if response.finish_reason == "length":
            problem = "the refine step was cut off by its token limit"
        elif not response.text.strip():
            problem = "the refine step returned no text"
        title = label if problem is None else f"{label} - not used"
        scope.emit(TraceBlock(title, step_text(response), "refine", candidate.number))
    scope.progress.refine_done()
    if problem is None:
        return response.text
    first_attempt, first_text = candidate.executions[0]
    scope.ledger.refine_kept_first.append(candidate.number)
    scope.note(
        f"Candidate {candidate.number}: keeping the first execution",
        f"{problem[0].upper()}{problem[1:]}, so the execution of attempt {first_attempt} "
        "stands as the solution.",
        candidate.number,
    )
    return first_text


# -- step 4: the answer ------------------------------------------------------------------


async def _answer(scope: RunScope, candidate: Candidate, stage: str) -> LLMResponse:
    """Run the final step (``stage="final"``) or the direct fallback; streamed live as
    :class:`AnswerDelta` events when the run is live. Raises :class:`LLMError`."""
    config = scope.config
    answer = scope.answer
    response_format = answer.response_format
    if stage == "final":
        solution = candidate.solution or ""
        label = f"Candidate {candidate.number} · final answer"
        step = Step(
            stage="final",
            label=label,
            task=lambda pieces: prompts.final_task(scope.question, pieces[0], response_format),
            pieces=(solution,),
            temperature=config.final_temperature,
            max_tokens=answer.bound(config.final_max_tokens),
            candidate=candidate.number,
            stop=answer.stop,
            response_format=response_format,
        )
    else:
        label = f"Candidate {candidate.number} · direct answer (fallback)"
        step = Step(
            stage="fallback",
            label=label,
            task=lambda _: prompts.fallback_task(scope.question, response_format),
            pieces=(),
            temperature=config.final_temperature,
            max_tokens=answer.bound(config.final_max_tokens),
            candidate=candidate.number,
            stop=answer.stop,
            response_format=response_format,
        )
    step = offer_tools(step, answer.tools)
    if not scope.live:
        response = await scope.caller.complete(step)
        scope.emit(TraceBlock(label, step_text(response), stage, candidate.number))
        return response
    return await _stream_answer(scope, step, label, stage, candidate.number)


async def _stream_answer(
    scope: RunScope, step: Step, label: str, stage: str, number: int
) -> LLMResponse:
    """Stream the answer step: thinking that comes before the first answer text is
    shown as one block, then each text piece is an :class:`AnswerDelta`."""
    thinking: list[str] = []
    answering = False

    def on_delta(delta: LLMDelta) -> None:
        nonlocal answering
        if not answering:
            thinking.append(delta.reasoning)
            if not delta.text:
                return
            answering = True
            if "".join(thinking).strip():
                scope.emit(
                    TraceBlock(
                        f"{label}: thinking", thinking_text("".join(thinking)), stage, number
                    )
                )
        if delta.text:
            scope.emit(AnswerDelta(delta.text))

    return await scope.caller.stream(step, on_delta)
