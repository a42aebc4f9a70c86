"""Choosing the answer among finished candidates: a pure function of their scores.

The rule, for every rating type:

1. The highest score wins. Scores are: ``absolute`` - 1 for a candidate rated
   correct, 0 for incorrect or for a rating that could not be read (no vote);
   ``pairwise`` - the number of comparisons the candidate won (each pair is compared
   in both orders; an unreadable comparison gives nobody a win); ``majority`` - the
   number of finished candidates whose extracted final answer equals its own
   (answers with nothing extractable agree with nobody).
2. A tie goes to the candidate whose extracted final answer agrees with the most
   other finished candidates.
3. A remaining tie goes to the lowest candidate number.

After a deadline the same rule runs on the finished candidates with majority scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finalist:
    """A candidate with a final answer; ``answer_key`` is its extracted, normalised
    answer (``None`` when nothing could be extracted)."""

    candidate: int
    answer_key: str | None


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen candidate and the numbers the rule looked at."""

    candidate: int
    scores: dict[int, float]
    agreement: dict[int, int]
    #: What set the winner apart from the best candidate with a different answer:
    #: "score", "agreement" or "order"; "unanimous" when every finalist gave the same
    #: extracted answer; "only candidate" when there was one finalist.
    decided_by: str


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


def choose(finalists: Sequence[Finalist], scores: Mapping[int, float]) -> Choice:
    """Apply the rule in the module docstring. ``scores`` may omit candidates (0).

    Raises :class:`ValueError` when ``finalists`` is empty.
    """
    if not finalists:
        raise ValueError("no finalists to choose from")
    agreed = agreement(finalists)
    full = {f.candidate: float(scores.get(f.candidate, 0.0)) for f in finalists}
    if len(finalists) == 1:
        return Choice(finalists[0].candidate, full, agreed, "only candidate")
    ranked = sorted(
        finalists, key=lambda f: (-full[f.candidate], -agreed[f.candidate], f.candidate)
    )
    best = ranked[0]
    rivals = [f for f in ranked[1:] if f.answer_key is None or f.answer_key != best.answer_key]
    if not rivals:
        return Choice(best.candidate, full, agreed, "unanimous")
    runner_up = rivals[0]
    if full[best.candidate] != full[runner_up.candidate]:
        decided_by = "score"
    elif agreed[best.candidate] != agreed[runner_up.candidate]:
        decided_by = "agreement"
    else:
        decided_by = "order"
    return Choice(best.candidate, full, agreed, decided_by)
