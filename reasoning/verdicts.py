"""Reading a rater's verdict out of its reply.

A reply that states no verdict in the requested form yields ``None``, which the
engine counts as no vote; nothing here raises on odd text. When a reply states the
verdict more than once, the last statement counts (models tend to conclude last).
"""

from __future__ import annotations

import re
from typing import Literal

from reasoning.answers import normalise_answer
from reasoning.prompts import RESULT_LABEL, VERDICT_LABEL, WINNER_LABEL

_VERDICT = re.compile(rf"{VERDICT_LABEL}\W{{0,6}}(INCORRECT|CORRECT|YES|NO)\b", re.IGNORECASE)
_RESULT = re.compile(rf"{RESULT_LABEL}\s*(?:\*\*|__)?\s*[:：]\s*(?P<rest>[^\n]*)", re.IGNORECASE)
_WINNER = re.compile(rf"{WINNER_LABEL}\W{{0,6}}(?:ANSWER\s+)?([AB])\b", re.IGNORECASE)


def parse_verdict(text: str) -> bool | None:
    """``True`` for ``VERDICT: CORRECT`` or ``VERDICT: YES``, ``False`` for
    ``VERDICT: INCORRECT`` or ``VERDICT: NO``, else ``None``. Markdown around the words
    (``**VERDICT:** CORRECT``) is tolerated."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    return str(found[-1]).upper() in ("CORRECT", "YES")


def parse_result(text: str) -> str | None:
    """The normalised answer on a verifier's last ``MY RESULT: ...`` line, else ``None``."""
    found = [match.group("rest") for match in _RESULT.finditer(text)]
    for rest in reversed(found):
        key = normalise_answer(rest)
        if key:
            return key
    return None


def parse_winner(text: str) -> Literal["A", "B"] | None:
    """``"A"`` or ``"B"`` from a ``BETTER: A`` line, else ``None``."""
    found = _WINNER.findall(text)
    if not found:
        return None
    return "A" if str(found[-1]).upper() == "A" else "B"
