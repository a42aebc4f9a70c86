"""Reading a rater's verdict out of its reply.

A reply that states no verdict in the requested form yields ``None``, which the
engine counts as no vote; nothing here raises on odd text. When a reply states the
verdict more than once, the last statement counts (models tend to conclude last).
"""

from __future__ import annotations

import re
from typing import Literal

from reasoning.prompts import VERDICT_LABEL, WINNER_LABEL

_VERDICT = re.compile(rf"{VERDICT_LABEL}\W{{0,6}}(INCORRECT|CORRECT)\b", re.IGNORECASE)
_WINNER = re.compile(rf"{WINNER_LABEL}\W{{0,6}}(?:ANSWER\s+)?([AB])\b", re.IGNORECASE)


def parse_verdict(text: str) -> bool | None:
    """``True`` for ``VERDICT: CORRECT``, ``False`` for ``VERDICT: INCORRECT``, else
    ``None``. Markdown around the words (``**VERDICT:** CORRECT``) is tolerated."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    return str(found[-1]).upper() == "CORRECT"


def parse_winner(text: str) -> Literal["A", "B"] | None:
    """``"A"`` or ``"B"`` from a ``BETTER: A`` line, else ``None``."""
    found = _WINNER.findall(text)
    if not found:
        return None
    return "A" if str(found[-1]).upper() == "A" else "B"
