"""Pulling a comparable final answer out of a solution text (for votes and tie breaks).

:func:`extract_final_answer` looks, in order, for the last ``\\boxed{...}``, the last
``Final answer:`` / ``Answer:`` line, then the last number in the text, and returns it
normalised by :func:`normalise_answer`, so two answers agree exactly when their
extracted strings are equal.
"""

from __future__ import annotations

import re

_ANSWER_LINE = re.compile(r"(?:final\s+answer|answer)\s*(?:is)?\s*[:=]\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def extract_final_answer(text: str) -> str | None:
    """The normalised final answer stated in ``text``, or ``None`` when there is none."""
    boxed = _last_boxed(text)
    if boxed is not None and normalise_answer(boxed):
        return normalise_answer(boxed)
    lines = _ANSWER_LINE.findall(text)
    for candidate in reversed(lines):
        inner = _last_boxed(candidate)
        value = normalise_answer(inner if inner is not None else candidate)
        if value:
            return value
    numbers = _NUMBER.findall(text)
    if numbers:
        return normalise_answer(numbers[-1])
    return None


def normalise_answer(answer: str) -> str:
    """Canonical form for comparison: markup, case, spacing and number format ignored.

    ``" **$1,000.0$.** "`` and ``"1000"`` both become ``"1000"``; ``"\\text{Paris}"``
    and ``"paris"`` both become ``"paris"``.
    """
    value = answer.strip()
    value = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", value)
    value = value.replace("\\left", "").replace("\\right", "").replace("\\!", "")
    value = value.replace("\\,", "").replace("\\ ", " ")
    value = value.strip().strip("*_`$ ").rstrip(".").strip("*_`$ ")
    value = re.sub(r"\s+", " ", value).lower()
    if _GROUPED_NUMBER.fullmatch(value):
        value = value.replace(",", "")
    if _PLAIN_NUMBER.fullmatch(value):
        value = _canonical_number(value)
    return value


def _canonical_number(value: str) -> str:
    if "." not in value:
        return str(int(value))
    whole, _, fraction = value.partition(".")
    fraction = fraction.rstrip("0")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-") or "0"
    whole = str(int(whole))
    number = f"{whole}.{fraction}" if fraction else whole
    return "0" if number == "0" else sign + number


def _last_boxed(text: str) -> str | None:
    """Contents of the last ``\\boxed{...}`` (braces balanced), or ``None``."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth = 0
    begin = start + len("\\boxed{")
    for index in range(begin, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return text[begin:index]
            depth -= 1
    return None
