"""Finding the final answer in a model's reply: where it is stated, and numbers in it.

Shared by every arm so that a comparison between arms measures the model, not the
parser. The search runs in tiers; within a tier the statement nearest the end of the
reply wins (a model that corrects itself is judged on its last word):

1. explicit statements: ``\\boxed{...}`` (nested braces), an ``Answer: ...`` line
   (markdown emphasis and a "Final" prefix allowed), "the (final) answer is ...";
2. for numbers only when tier 1 yields none: the last number in the reply.

``<think>...</think>`` blocks are removed first (an unclosed one hides everything after it).
Numbers are compared as exact fractions: ``"1,000"`` == ``1000``, ``"5.00"`` == ``5``,
``"$18"`` == ``18``, ``"50%"`` == ``50``, ``"−3"`` (Unicode minus) == ``-3``; with
``words=True`` (letter counting) "three", "twice" and the like count as numbers too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(
    r"\banswer\b[ \t]*(?:\*\*|__)?[ \t]*[:：][ \t]*(?:\*\*|__)?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_ANSWER_IS = re.compile(
    r"\b(?:final\s+answer|the\s+answer|answer\s+should\s+be)\s*(?:\*\*|__)?\s*"
    r"(?:is|would\s+be|will\s+be|=)[ \t]*:?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)

_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−])?(?:\$\s?)?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\d])"
)
_FRAC = re.compile(r"\\d?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}")
_NUMBER_WORDS: dict[str, int] = {
    word: value
    for value, word in enumerate(
        (
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
            *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"),
            *("seventeen", "eighteen", "nineteen", "twenty"),
        )
    )
} | {"once": 1, "twice": 2, "thrice": 3}
_WORD = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True, slots=True)
class Statement:
    """An explicit answer statement found in a reply.

    ``text`` is what follows the marker (for an ``Answer:`` line with nothing after the
    colon, the following lines up to a blank line or the end); ``method`` names the
    marker (``boxed``, ``answer_line``, ``answer_is``); ``position`` is where it starts.
    """

    text: str
    method: str
    position: int


def strip_thinking(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks; an unclosed block hides the rest.

    A stray ``</think>`` without its opening tag (models whose template adds the
    opening tag) hides everything before it.
    """
    text = _THINK_BLOCK.sub("", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


def _boxed_contents(text: str) -> Iterator[Statement]:
    for match in _BOXED.finditer(text):
        depth = 1
        for pos in range(match.end(), len(text)):
            if text[pos] == "{":
                depth += 1
            elif text[pos] == "}":
                depth -= 1
                if depth == 0:
                    yield Statement(text[match.end() : pos], "boxed", match.start())
                    break


def _following_block(text: str, start: int) -> str:
    """The text after ``start`` up to the first blank line after some content."""
    lines: list[str] = []
    in_fence = False
    for line in text[start:].split("\n"):
        if line.strip().startswith("```"):
            in_fence = not in_fence
        if not line.strip() and lines and not in_fence:
            break
        if line.strip() or lines:
            lines.append(line)
    return "\n".join(lines).strip()


def find_statements(text: str) -> list[Statement]:
    """Every explicit answer statement in ``text``, the last one first."""
    found = list(_boxed_contents(text))
    for pattern, method in ((_ANSWER_LINE, "answer_line"), (_ANSWER_IS, "answer_is")):
        for match in pattern.finditer(text):
            rest = match.group("rest").strip()
            if not rest.strip("*_ \t"):
                rest = _following_block(text, match.end())
            found.append(Statement(rest, method, match.start()))
    found.sort(key=lambda statement: statement.position, reverse=True)
    return found


def _clean_latex(text: str) -> str:
    text = re.sub(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}", r"\1", text)
    for old, new in (("{,}", ","), ("\\,", ""), ("\\!", ""), ("\\$", "$"), ("\\%", "%")):
        text = text.replace(old, new)
    return text


def _to_fraction(match: re.Match[str]) -> Fraction:
    value = Fraction(match.group("digits").replace(",", ""))
    return -value if match.group("sign") else value


def numbers_in(text: str, *, words: bool = False) -> list[tuple[int, Fraction]]:
    """Every number in ``text`` with its position, in order (number words too if ``words``)."""
    text = _clean_latex(text)
    found = [(m.start(), _to_fraction(m)) for m in _NUMBER.finditer(text)]
    found += [
        (m.start(), Fraction(int(m.group(1)), int(m.group(2))))
        for m in _FRAC.finditer(text)
        if int(m.group(2)) != 0
    ]
    if words:
        found += [
            (m.start(), Fraction(_NUMBER_WORDS[m.group(1).lower()])) for m in _WORD.finditer(text)
        ]
    # A \frac{a}{b} also matched its digits as plain numbers; keep the fraction.
    fracs = [(m.start(), m.end()) for m in _FRAC.finditer(text)]
    found = [
        (pos, value) for pos, value in found if not any(start < pos < end for start, end in fracs)
    ]
    found.sort(key=lambda pair: pair[0])
    return found


def number_in_statement(text: str, *, words: bool = False) -> Fraction | None:
    """The number a statement gives: after its last ``=`` if any, else its first number.

    ``"18 dollars"`` -> 18; ``"3 + 4 = 7"`` -> 7; ``"$1,000.00"`` -> 1000; no number -> None.
    """
    text = _clean_latex(text)
    if "=" in text:
        tail = numbers_in(text.rsplit("=", 1)[1], words=words)
        if tail:
            return tail[0][1]
    found = numbers_in(text, words=words)
    return found[0][1] if found else None


def parse_number(text: str) -> Fraction | None:
    """A reference answer such as ``"1,000"`` or ``"-3.5"`` as a fraction; None if it has none."""
    found = numbers_in(text)
    return found[0][1] if found else None


def format_number(value: Fraction) -> str:
    """Canonical text: 1000 -> ``"1000"``, 5/2 -> ``"2.5"``, 1/3 -> ``"1/3"``."""
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    if Fraction(repr(as_float)) == value:
        return repr(as_float)
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True, slots=True)
class NumberAnswer:
    """The number found in a reply (None if none) and how it was found."""

    value: Fraction | None
    method: str


def extract_number(reply: str, *, words: bool = False) -> NumberAnswer:
    """The final numeric answer of ``reply`` (see the module docstring for the rules)."""
    text = strip_thinking(reply)
    for statement in find_statements(text):
        value = number_in_statement(statement.text, words=words)
        if value is not None:
            return NumberAnswer(value, statement.method)
    found = numbers_in(text, words=words)
    if found:
        return NumberAnswer(found[-1][1], "last_number")
    return NumberAnswer(None, "none")
