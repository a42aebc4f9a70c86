"""Choosing the answer among finished candidates: a pure function of what the run recorded.

Every candidate with a final answer is a *finalist*. A finalist whose answer is
``failed`` (the question expects a stated answer and its final text holds none, even
after the retry) is left out, unless every finalist failed; then all take part.

Each rule ranks the finalists by a list of criteria, highest first; the first
criterion on which the winner beats the best finalist with a different answer is
what decided (``decided_by``):

* ``rating``: the rating score, then agreement, then order. Scores are: ``absolute``,
  ``binary`` and ``blind`` - 1 for an answer rated correct, 0 for incorrect or unreadable (no
  vote); ``pairwise`` - comparisons won; ``majority`` - the size of the answer's group
  among the finalists.
* ``majority``: agreement, then the rating score, then order.
* ``pool``: votes, then the rating score, then order. An answer's votes are how many
  answers of the whole run equal it: every successful execution's and every
  finalist's (the *pool*).
* ``pool_judges``: as ``pool``, with the judges' own results (binary and blind
  verification) in the pool too.

*Agreement* is how many other finalists gave the same answer (answers that could not
be extracted agree with nobody); *order* is the candidate number, lowest first.
After a deadline the engine uses ``majority``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RULES: tuple[str, ...] = ("rating", "majority", "pool", "pool_judges")


@dataclass(frozen=True, slots=True)
class Finalist:
    """A candidate with a final answer; ``answer_key`` is its normalised answer
    (``None`` when nothing could be extracted); ``failed`` when it stated no answer
    where one was expected."""

    candidate: int
    answer_key: str | None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen candidate and the numbers the rule looked at."""

    candidate: int
    scores: dict[int, float]
    agreement: dict[int, int]
    #: What set the winner apart from the best candidate with a different answer:
    #: "score", "agreement", "votes" or "order"; "unanimous" when every finalist gave
    #: the same extracted answer; "only candidate" when there was one finalist.
    decided_by: str
    votes: dict[int, int]
    #: The finalists that took part (all of them when every one failed).
    eligible: tuple[int, ...]


def agreement(finalists: Sequence[Finalist]) -> dict[int, int]:
    """For each candidate, how many *other* finalists have the same answer key."""
    counts = Counter(f.answer_key for f in finalists if f.answer_key is not None)
    return {
        f.candidate: (counts[f.answer_key] - 1 if f.answer_key is not None else 0)
        for f in finalists
    }


def majority_scores(finalists: Sequence[Finalist]) -> dict[int, float]:
    """Majority-vote scores: the size of each candidate's answer group (0 if none)."""
    agreed = agreement(finalists)
    return {
        f.candidate: float(agreed[f.candidate] + 1) if f.answer_key is not None else 0.0
        for f in finalists
    }


def pool_votes(finalists: Sequence[Finalist], pool: Iterable[str | None]) -> dict[int, int]:
    """For each finalist, how many answers of ``pool`` equal its answer key."""
    counts = Counter(key for key in pool if key is not None)
    return {f.candidate: counts[f.answer_key] if f.answer_key is not None else 0 for f in finalists}


def choose(
    finalists: Sequence[Finalist],
    scores: Mapping[int, float],
    *,
    rule: str = "rating",
    pool: Iterable[str | None] = (),
) -> Choice:
    """Apply ``rule`` (see the module docstring). ``scores`` may omit candidates (0);
    ``pool`` holds the run's other answers (executions, judges' results as the rule
    wants them); the eligible finalists' own answers are added to it here.

    Raises :class:`ValueError` when ``finalists`` is empty or ``rule`` is unknown.
    """
    if not finalists:
        raise ValueError("no finalists to choose from")
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}")
    eligible = [f for f in finalists if not f.failed] or list(finalists)
    agreed = agreement(eligible)
    full = {f.candidate: float(scores.get(f.candidate, 0.0)) for f in eligible}
    votes = pool_votes(eligible, [*pool, *(f.answer_key for f in eligible)])
    numbers = tuple(f.candidate for f in eligible)
    if len(eligible) == 1:
        return Choice(eligible[0].candidate, full, agreed, "only candidate", votes, numbers)
    by_score: dict[str, Mapping[int, float]] = {"score": full, "agreement": agreed}
    by_agreement: dict[str, Mapping[int, float]] = {"agreement": agreed, "score": full}
    by_votes: dict[str, Mapping[int, float]] = {"votes": votes, "score": full}
    criteria = {
        "rating": by_score,
        "majority": by_agreement,
        "pool": by_votes,
        "pool_judges": by_votes,
    }[rule]

    def rank(f: Finalist) -> tuple[float, ...]:
        return (*(-values[f.candidate] for values in criteria.values()), f.candidate)

    ranked = sorted(eligible, key=rank)
    best = ranked[0]
    rivals = [f for f in ranked[1:] if f.answer_key is None or f.answer_key != best.answer_key]
    if not rivals:
        return Choice(best.candidate, full, agreed, "unanimous", votes, numbers)
    runner_up = rivals[0]
    decided_by = next(
        (
            name
            for name, values in criteria.items()
            if values[best.candidate] != values[runner_up.candidate]
        ),
        "order",
    )
    return Choice(best.candidate, full, agreed, decided_by, votes, numbers)
