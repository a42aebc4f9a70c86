"""Scoring one reply against a dataset's reference answer: the single rule every arm shares.

* GSM8K: the final number (see :mod:`bench.accuracy.extraction`) equals the number after
  ``####``, compared exactly as fractions (``"1,000"`` == ``1000.0``).
* letters: the same, with number words ("three", "twice") accepted.
* CRUXEval: the final Python literal (see :mod:`bench.accuracy.literals`) is ``==`` to
  ``ast.literal_eval`` of the reference. A reply with no parsable literal is wrong.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from bench.accuracy.datasets import DatasetName
from bench.accuracy.extraction import extract_number, format_number, parse_number
from bench.accuracy.literals import extract_literal, literals_equal


@dataclass(frozen=True, slots=True)
class Score:
    """The extracted answer as canonical text (None if none), how it was found, the verdict."""

    extracted: str | None
    method: str
    correct: bool


def score_reply(dataset: DatasetName, reply: str, expected: str) -> Score:
    """Extract the answer from ``reply`` and compare it with ``expected`` (the dataset's text).

    Raises ValueError only if ``expected`` itself cannot be read, which is a dataset bug.
    """
    if dataset == "cruxeval":
        reference = ast.literal_eval(expected)
        literal = extract_literal(reply)
        if not literal.found:
            return Score(None, literal.method, False)
        return Score(repr(literal.value), literal.method, literals_equal(literal.value, reference))
    reference_number = parse_number(expected)
    if reference_number is None:
        raise ValueError(f"reference answer {expected!r} has no number")
    number = extract_number(reply, words=dataset == "letters")
    if number.value is None:
        return Score(None, number.method, False)
    return Score(format_number(number.value), number.method, number.value == reference_number)
