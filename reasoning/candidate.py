"""One candidate's pipeline: plan -> execute attempts, refine, final answer.

``planning_n`` attempts start at once. An attempt whose plan or execution is cut off
by its token limit, comes back empty, or fails (:class:`LLMError`) is rejected and
one replacement starts, up to ``planning_m`` attempts in all. With no successful
attempt the candidate answers the question directly (one call, in the final step's
role). Otherwise the refine step reviews every successful execution; if it fails or
is cut off, the first execution (lowest attempt number) stands as the solution. The
final step then answers the question from the solution.

Without ``plan_step``, an attempt is a single call: the client's conversation as it
stands, sampled at the execution step's temperature (no plan, no step prompt), so the
refine step compares plain samples. On the rig's 1.5B model, executions of a plan were
right no more often than plain samples (bench/RESULTS.md).

With ``direct_on_disagreement``, a candidate whose executions do not all state one
answer (see :func:`executions_agree`) skips the refine and final steps and answers the
client's conversation directly instead, as it stands (no step prompt), at the final
step's temperature and limits. On the rig's 1.5B model, two executions that disagree
were right less often than the model's plain answer (bench/RESULTS.md).

With ``keep_execution_majority``, a final answer that states another answer than most
of the candidate's executions (more than half, at least two; see
:func:`reasoning.answers.majority_key`) is written once more, from the first execution
that states theirs instead of the refined solution, and replaced when the new reply
states that answer. On the rig's 1.5B model, a final that overturned its executions'
majority was right on 4 of 34 such candidates and the majority on 25 (bench/RESULTS.md).
Only a stated answer counts (not a last number), and a final already sent live, a
tool call or a failed answer is left as it is. ``keep_execution_plurality`` does the same
with the executions' plurality answer (more of them state it than any other, at least
two; see :func:`reasoning.answers.plurality_key`): 5, 5, 6, 7 overturns a final of 6, which
more than half would not (the metadata's ``finals_against_majority`` then names that
plurality ``majority_answer``). Re-scored on the rig's records it was never worse than the
majority rule (bench/RESULTS.md, ``rescore``'s ``keep_execution_plurality``); no preset
uses it until it is measured live.

When the answer step's reply is empty, or the question expects a stated answer (see
:func:`reasoning.answers.expects_answer`) and the reply states none, the step runs once
more, insisting on it; if that reply is no answer either, the candidate is marked
``answer_failed``, which keeps it out of the selection unless every candidate failed,
and keeps the first non-empty reply (its worked solution when both were empty).
A single candidate's answer streams live unless the question itself asks for a stated
answer (then it is checked before anything of it is sent); a live answer that turns
out to state none cannot be taken back, so it is only marked ``answer_failed``.

A candidate whose answer step fails is dropped (marked, noted in the trace, and
recorded); the run answers from the others. Blocks are emitted as each call ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from reasoning import prompts
from reasoning.answers import (
    STATED_FORMS,
    answers_agree,
    asks_for_answer,
    expects_answer,
    extract_final_answer,
    find_answer,
    majority_key,
    plurality_key,
    stated_answer,
    stated_key,
)
from reasoning.calls import Step
from reasoning.events import AnswerDelta, TraceBlock
from reasoning.llm import LLMDelta, LLMError, LLMResponse
from reasoning.scope import Candidate, RunScope
from reasoning.tools import offer_tools
from reasoning.trace import step_text, thinking_text


async def run_candidate(scope: RunScope, candidate: Candidate) -> None:
    """Take ``candidate`` to a final answer (``candidate.final``) or drop it."""
    attempts = await _plan_and_execute(scope, candidate)
    executions = [(number, execution) for number, _, execution in attempts]
    try:
        if executions:
            candidate.executions = executions
            candidate.execution_answers = [
                (number, extract_final_answer(text)) for number, text in executions
            ]
            candidate.plan_answers = [(number, stated_key(plan)) for number, plan, _ in attempts]
            if scope.config.direct_on_disagreement and not executions_agree(
                scope.question, candidate
            ):
                _note_disagreement(scope, candidate)
                stage = "direct"
            else:
                candidate.solution = await _refine(scope, candidate)
                stage = "final"
        else:
            scope.ledger.fallbacks.append(candidate.number)
            scope.note(
                f"Candidate {candidate.number}: no plan could be carried out",
                "Every planning attempt was cut off or failed, so this candidate answers "
                "the question directly.",
                candidate.number,
            )
            stage = "fallback"
        basis = candidate.solution or next((text for _, text in executions), None)
        candidate.answer_expected = scope.answer.response_format is None and expects_answer(
            scope.question, basis
        )
        final = await _answer(scope, candidate, stage, insist=False)
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
    if not _answered(candidate, final):
        if candidate.streamed and final.text.strip():
            candidate.answer_failed = True  # already sent live: nothing to take back
            scope.ledger.notes.append(
                f"candidate {candidate.number}: the live answer states no answer"
            )
        else:
            final = await _retry_answer(scope, candidate, stage, final)
    candidate.final = final
    found = find_answer(final.text)
    candidate.answer_key = found.key if found is not None else None
    candidate.answer_form = found.form if found is not None else None
    if stage == "final" and (
        scope.config.keep_execution_majority or scope.config.keep_execution_plurality
    ):
        await _keep_majority(scope, candidate)
    scope.progress.final_ready()


def executions_agree(question: str, candidate: Candidate) -> bool:
    """Whether the candidate's executions agree: all with the same answer key
    (:func:`~reasoning.answers.extract_final_answer`), none without one. A single
    execution has nothing to disagree with, and where no answer is wanted (the question
    asks for none and no execution states one) there is nothing to disagree on: both
    count as agreeing."""
    wanted = asks_for_answer(question) or any(
        stated_answer(text) is not None for _, text in candidate.executions
    )
    return not wanted or answers_agree([key for _, key in candidate.execution_answers])


def _note_disagreement(scope: RunScope, candidate: Candidate) -> None:
    answers = [key for _, key in candidate.execution_answers]
    scope.ledger.disagreements.append({"candidate": candidate.number, "execution_answers": answers})
    shown = ", ".join("none" if key is None else key for key in answers)
    scope.note(
        f"Candidate {candidate.number}: the executions disagree",
        f"Their answers ({shown}) do not agree, so this candidate answers the question "
        "directly instead of refining them.",
        candidate.number,
    )
    scope.progress.answering_directly()


def _answered(candidate: Candidate, reply: LLMResponse) -> bool:
    """A reply is an answer when it calls a tool, or has text and, where one is expected,
    states one."""
    if reply.tool_calls:
        return True
    if not reply.text.strip():
        return False
    return not candidate.answer_expected or stated_answer(reply.text) is not None


async def _retry_answer(
    scope: RunScope, candidate: Candidate, stage: str, first: LLMResponse
) -> LLMResponse:
    """The answer step once more, insisting on a stated answer: the retry's reply when
    it is an answer (see :func:`_answered`). Otherwise the candidate is marked failed and
    keeps the first reply, or the retry's when the first was empty, or, when both were
    empty, its worked solution (sent as the answer when the run is live)."""
    candidate.final_retried = True
    scope.note(
        f"Candidate {candidate.number}: no answer stated",
        "The reply is empty or states no answer where the question expects one, so the "
        "answer step is asked once more.",
        candidate.number,
    )
    try:
        retried = await _answer(scope, candidate, stage, insist=True)
    except LLMError as error:
        scope.ledger.notes.append(
            f"candidate {candidate.number}: the answer retry failed ({error.message})"
        )
        retried = None
    if retried is not None and _answered(candidate, retried):
        return retried
    candidate.answer_failed = True
    scope.note(
        f"Candidate {candidate.number}: still no answer stated",
        "It takes part in the selection only if no candidate states an answer.",
        candidate.number,
    )
    if first.text.strip():
        return first
    if retried is not None and retried.text.strip():
        return retried
    if not candidate.solution:
        return first
    candidate.streamed = False
    return LLMResponse(candidate.solution, "stop", usage=None)


async def _keep_majority(scope: RunScope, candidate: Candidate) -> None:
    """When the final answer states another answer than most executions, write it once
    more from the first execution that states theirs; keep the new reply when it states
    that answer, else the first (see the module docstring)."""
    final, key = candidate.final, candidate.answer_key
    if final is None or final.tool_calls or candidate.streamed or candidate.answer_failed:
        return
    if key is None or candidate.answer_form not in STATED_FORMS:
        return  # only a stated answer overturns the executions, not a last number
    keys = [answer for _, answer in candidate.execution_answers]
    vote = plurality_key if scope.config.keep_execution_plurality else majority_key
    majority = vote(keys)
    if majority is None or majority == key:
        return
    attempt, text = next(
        (number, text)
        for (number, text), (_, answer) in zip(
            candidate.executions, candidate.execution_answers, strict=True
        )
        if answer == majority
    )
    record = {
        "candidate": candidate.number,
        "final_answer": key,
        "majority_answer": majority,
        "executions": f"{keys.count(majority)} of {len(keys)}",
        "from_attempt": attempt,
        "kept": "first",
    }
    scope.ledger.finals_against_majority.append(record)
    scope.note(
        f"Candidate {candidate.number}: the final answer overturns the executions",
        f"It states {key} where {record['executions']} executions state {majority}, so "
        f"the final answer is written once more from the execution of attempt {attempt}.",
        candidate.number,
    )
    scope.progress.rewriting_final()
    refined, candidate.solution = candidate.solution, text
    try:
        again = await _answer(
            scope, candidate, "final", insist=False, basis=f"attempt {attempt}'s execution"
        )
    except LLMError as error:
        scope.ledger.notes.append(
            f"candidate {candidate.number}: the answer from the executions' majority failed "
            f"({error.message})"
        )
        return
    finally:  # the first final's solution, unless the new final is kept (below)
        candidate.solution = refined
    found = find_answer(again.text)
    if again.tool_calls or found is None or not found.stated or found.key != majority:
        return  # only a text reply stating the majority's answer replaces the first
    record["kept"] = "majority"
    candidate.final, candidate.solution = again, text
    candidate.answer_key, candidate.answer_form = found.key, found.form


# -- step 1 and 2: planning attempts ------------------------------------------------------


async def _plan_and_execute(scope: RunScope, candidate: Candidate) -> list[tuple[int, str, str]]:
    """Successful attempts as ``(attempt, plan, execution)``, ordered by attempt number."""
    config = scope.config
    successes: list[tuple[int, str, str]] = []
    started = 0

    async with asyncio.TaskGroup() as group:

        def launch() -> None:
            nonlocal started
            started += 1
            group.create_task(attempt(started))

        async def attempt(number: int) -> None:
            done = await _attempt(scope, candidate, number)
            if done is not None:
                successes.append((number, *done))
                return
            scope.progress.attempt_rejected()
            if started < config.planning_m:
                launch()

        for _ in range(config.planning_n):
            launch()

    return sorted(successes)


async def _attempt(scope: RunScope, candidate: Candidate, number: int) -> tuple[str, str] | None:
    """One plan + execute attempt: the plan's and the execution's text, or ``None`` if
    rejected. Without ``plan_step`` the attempt is its execution alone, the client's
    conversation as it stands at the execution step's temperature and limit, and its
    plan is empty."""
    config = scope.config
    plan = ""
    if config.plan_step:
        found = await _attempt_call(
            scope,
            candidate,
            number,
            Step(
                stage="plan",
                label=f"Candidate {candidate.number} · plan (attempt {number})",
                task=lambda _: prompts.plan_task(scope.question, candidate.approach),
                pieces=(),
                temperature=config.planning_temperature,
                max_tokens=config.planning_max_tokens,
                candidate=candidate.number,
                attempt=number,
            ),
        )
        if found is None:
            return None
        plan = found
        scope.progress.plan_ready()
    execution = await _attempt_call(
        scope,
        candidate,
        number,
        Step(
            stage="execute",
            label=f"Candidate {candidate.number} · execution (attempt {number})"
            if config.plan_step
            else f"Candidate {candidate.number} · solution (attempt {number}, no plan)",
            task=(lambda pieces: prompts.execute_task(scope.question, pieces[0]))
            if config.plan_step
            else (lambda _: scope.question),
            pieces=(plan,) if config.plan_step else (),
            temperature=config.execution_temperature,
            max_tokens=config.execution_max_tokens,
            candidate=candidate.number,
            attempt=number,
        ),
    )
    if execution is None:
        return None
    scope.progress.execution_done()
    return plan, execution


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


async def _answer(
    scope: RunScope, candidate: Candidate, stage: str, *, insist: bool, basis: str | None = None
) -> LLMResponse:
    """Run the final step (``stage="final"``), the direct answer to the client's
    conversation (``"direct"``; its retry asks as the fallback does) or the direct
    fallback (``"fallback"``); streamed live as
    :class:`AnswerDelta` events when the run is live, unless the question asks for a
    stated answer (then the reply is checked first, and sent whole). ``insist`` asks
    firmly for the answer in the asked-for form (the retry); ``basis`` names, in the
    label, a solution the final step works from other than the refined one. Raises
    :class:`LLMError`."""
    config = scope.config
    answer = scope.answer
    response_format = answer.response_format
    retry = " (retry)" if insist else ""
    pieces: tuple[str, ...] = ()
    if stage == "final":
        source = f" (from {basis})" if basis else ""
        label = f"Candidate {candidate.number} · final answer{source}{retry}"
        turn = prompts.final_task(response_format, insist=insist)
        pieces = (candidate.solution or "",)
    elif stage == "direct" and not insist:
        label = f"Candidate {candidate.number} · direct answer (the executions disagree)"
        turn = scope.question  # the client's conversation as it stands
    else:
        label = f"Candidate {candidate.number} · direct answer (fallback){retry}"
        turn = prompts.fallback_task(scope.question, response_format, insist=insist)
    step = Step(
        stage="final" if stage == "final" else "fallback",
        label=label,
        task=lambda _: turn,
        pieces=pieces,
        temperature=config.final_temperature,
        max_tokens=answer.bound(config.final_max_tokens),
        candidate=candidate.number,
        stop=answer.stop,
        response_format=response_format,
        draft=stage == "final",
    )
    step = offer_tools(step, answer.tools)
    candidate.streamed = scope.live and not (
        answer.response_format is None and asks_for_answer(scope.question)
    )
    if not candidate.streamed:
        response = await scope.caller.complete(step)
        scope.emit(TraceBlock(label, step_text(response), step.stage, candidate.number))
        return response
    return await _stream_answer(scope, step, label, step.stage, candidate.number)


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
