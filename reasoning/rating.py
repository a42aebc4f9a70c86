"""Rating calls: absolute or binary verification of one answer, pairwise comparison of two.

A binary verification shows the judge the question and the answer alone; the judge
solves the question itself, states its own result (recorded as ``judge_answer``) and
says yes or no. A blind verification shows the judge the question only: its verdict
is yes exactly when its own result is the candidate's answer (by the equivalence of
:mod:`reasoning.answers`). Every rating call goes to the config's ``rating_model`` when
set.

Each rating records an entry in the ledger (``parsed: false`` when the verdict could
not be read, ``error`` when the call failed) and emits one block that states the
verdict. A rating that fails or cannot be read is no vote; it never raises.
Scores are accumulated in the ``scores`` mapping the engine passes in.
"""

from __future__ import annotations

from reasoning import prompts
from reasoning.answers import stated_key
from reasoning.calls import Step
from reasoning.events import TraceBlock
from reasoning.llm import LLMError, LLMResponse
from reasoning.scope import Candidate, RunScope
from reasoning.trace import output_text, step_text
from reasoning.verdicts import parse_result, parse_verdict, parse_winner

_DIRECT = "(none: this answer was written directly, without a separate worked solution)"


def _answer_text(candidate: Candidate) -> str:
    """What the judge is shown as the answer: its text and any tool calls it makes."""
    return output_text(candidate.final) if candidate.final is not None else ""


async def rate_absolute(scope: RunScope, candidate: Candidate, scores: dict[int, float]) -> None:
    """Ask whether ``candidate``'s answer is correct: 1 point if so, else none."""
    config = scope.config
    label = f"Candidate {candidate.number} · rating"
    step = Step(
        stage="rate",
        label=label,
        task=lambda pieces: prompts.rating_task(scope.question, pieces[0], pieces[1]),
        pieces=(candidate.solution or _DIRECT, _answer_text(candidate)),
        temperature=config.rating_temperature,
        max_tokens=config.rating_max_tokens,
        candidate=candidate.number,
        model=config.rating_model,
    )
    entry: dict[str, object] = {"type": "absolute", "candidate": candidate.number}
    response = await _call(scope, step, entry, label, candidate.number)
    if response is not None:
        verdict = parse_verdict(response.text)
        _score(scope, candidate, scores, entry, label, response, verdict, ("correct", "incorrect"))
    scope.ledger.ratings.append(entry)
    scope.progress.rating_done()


async def rate_binary(
    scope: RunScope, candidate: Candidate, scores: dict[int, float], *, blind: bool = False
) -> None:
    """Have a judge solve the question and say whether ``candidate``'s answer is right
    (``blind``: judge by the judge's own result alone): 1 point for yes, none for no or
    an unreadable verdict."""
    config = scope.config
    label = f"Candidate {candidate.number} · verification" + (" (blind)" if blind else "")
    step = Step(
        stage="rate",
        label=label,
        task=(
            (lambda _: prompts.solve_task(scope.question))
            if blind
            else (lambda pieces: prompts.verify_task(scope.question, pieces[0]))
        ),
        pieces=() if blind else (_answer_text(candidate),),
        temperature=config.rating_temperature,
        max_tokens=config.rating_max_tokens,
        candidate=candidate.number,
        model=config.rating_model,
    )
    kind = "blind" if blind else "binary"
    entry: dict[str, object] = {"type": kind, "candidate": candidate.number}
    response = await _call(scope, step, entry, label, candidate.number)
    if response is not None:
        judged = parse_result(response.text)
        if blind and judged is None:
            judged = stated_key(response.text)
        if blind:
            verdict = None if judged is None else judged == candidate.answer_key
        else:
            verdict = parse_verdict(response.text)
        entry["judge_answer"] = judged
        _score(scope, candidate, scores, entry, label, response, verdict, ("yes", "no"))
    scope.ledger.ratings.append(entry)
    scope.progress.rating_done()


async def compare(
    scope: RunScope, first: Candidate, second: Candidate, scores: dict[int, float]
) -> None:
    """Compare ``first`` (shown as A) with ``second`` (shown as B): the winner gets 1."""
    config = scope.config
    label = f"Comparison: candidate {first.number} (A) vs candidate {second.number} (B)"
    step = Step(
        stage="rate",
        label=label,
        task=lambda pieces: prompts.compare_task(scope.question, pieces[0], pieces[1]),
        pieces=(_answer_text(first), _answer_text(second)),
        temperature=config.rating_temperature,
        max_tokens=config.rating_max_tokens,
        model=config.rating_model,
    )
    entry: dict[str, object] = {
        "type": "pairwise",
        "candidate": first.number,
        "against": second.number,
    }
    response = await _call(scope, step, entry, label, None)
    if response is not None:
        letter = parse_winner(response.text)
        winner = {"A": first.number, "B": second.number, None: None}[letter]
        if winner is not None:
            scores[winner] = scores.get(winner, 0.0) + 1.0
        entry.update(
            verdict=letter,
            winner=winner,
            parsed=letter is not None,
            truncated=response.finish_reason == "length",
        )
        verdict = f"candidate {winner} is better" if winner else "unreadable (no vote)"
        scope.emit(TraceBlock(f"{label}: {verdict}", step_text(response), "rate"))
    scope.ledger.ratings.append(entry)
    scope.progress.comparison_done()


async def _call(
    scope: RunScope,
    step: Step,
    entry: dict[str, object],
    label: str,
    candidate: int | None,
) -> LLMResponse | None:
    try:
        return await scope.caller.complete(step)
    except LLMError as error:
        entry.update(verdict=None, score=0.0, parsed=False, error=error.message)
        scope.emit(TraceBlock(f"{label}: failed (no vote)", error.message, "rate", candidate))
        return None


def _score(
    scope: RunScope,
    candidate: Candidate,
    scores: dict[int, float],
    entry: dict[str, object],
    label: str,
    response: LLMResponse,
    verdict: bool | None,
    words: tuple[str, str],
) -> None:
    """Add the verdict's point (1 for yes, none for no or unreadable) to ``scores``,
    record it in ``entry`` and show the judge's text under ``words`` (yes, no)."""
    word = {True: words[0], False: words[1], None: "unreadable (no vote)"}[verdict]
    score = 1.0 if verdict else 0.0
    scores[candidate.number] = scores.get(candidate.number, 0.0) + score
    entry.update(
        verdict=None if verdict is None else word,
        score=score,
        parsed=verdict is not None,
        truncated=response.finish_reason == "length",
    )
    scope.emit(TraceBlock(f"{label}: {word}", step_text(response), "rate", candidate.number))
