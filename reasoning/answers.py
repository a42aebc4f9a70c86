"""Final answers: finding the one a text states, and when two answers are the same answer.

Pure functions, no I/O. A text *states* an answer in one of three forms, the last
statement in the text winning: ``\\boxed{...}`` (``boxed``), an ``Answer: ...`` or
``Final answer: ...`` line (``answer_line``), or "the answer is ..." (``answer_is``).
:func:`stated_answer` finds only those; :func:`find_answer` falls back to the last
number in the text (``last_number``) when nothing is stated, which is good enough for
a vote but does not count as an answer that was given.

Equivalence (:func:`normalise_answer`): two answers are the same exactly when their keys
are equal. Keys ignore markup (LaTeX ``\\text{}``, markdown emphasis, ``$``), case and
spacing; numbers are compared by value, whatever their form: ``1,000``, ``$1000.00``,
``1000 dollars``, ``50%`` (as 50), ``3/4``, ``\\frac{3}{4}`` and ``0.75`` are one answer
each; an equation's right side counts (``x = 5`` is 5); a lone option letter in any
dress (``(B)``, ``B)``, ``Option B``) is that letter. A format's placeholder copied as
the answer (``Answer: <value>``, ``\\boxed{<your answer>}``) is no answer: its key is empty.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

AnswerForm = str
"""``boxed``, ``answer_line``, ``answer_is`` (stated) or ``last_number`` (not stated)."""

STATED_FORMS: tuple[str, ...] = ("boxed", "answer_line", "answer_is")

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(
    r"\banswer\b[ \t]*(?:\*\*|__)?[ \t]*[:：][ \t]*(?:\*\*|__)?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_ANSWER_IS = re.compile(
    r"\b(?:final\s+answer|the\s+answer)\s*(?:\*\*|__)?\s*(?:is|would\s+be|will\s+be)\b"
    r"[ \t]*:?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−])?(?:\$\s?)?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<denominator>\d+))?(?![\d])"
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}")
_LETTER = re.compile(r"^(?:option|choice)?\s*[(\[]?([a-z])[)\].:]?$")
_PLACEHOLDER = re.compile(
    r"^[<\[]\s*(?:your\s+|the\s+|final\s+)*"
    r"(?:value|answer|number|result|count|solution|letter|option|choice|n|x)"
    r"(?:\s+here)?\s*[>\]]$"
)
_ANSWER_REQUEST = re.compile(
    r"\banswer\s*:|\\boxed|final\s+answer|\banswer\s+(?:line|in\s+the\s+form)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class FoundAnswer:
    """An answer found in a text: its comparison ``key`` and the ``form`` it was in."""

    key: str
    form: AnswerForm

    @property
    def stated(self) -> bool:
        """Whether the text stated it (rather than it being the last number)."""
        return self.form in STATED_FORMS


def stated_answer(text: str) -> FoundAnswer | None:
    """The last answer ``text`` states (boxed, answer line, "the answer is"), or ``None``."""
    statements: list[tuple[int, str, str]] = [
        (position, body, "boxed") for position, body in _boxed_contents(text)
    ]
    for pattern, form in ((_ANSWER_LINE, "answer_line"), (_ANSWER_IS, "answer_is")):
        for match in pattern.finditer(text):
            rest = match.group("rest").strip()
            if not rest.strip("*_ \t"):
                rest = _next_line(text, match.end())
            statements.append((match.start(), rest, form))
    statements.sort(key=lambda statement: statement[0], reverse=True)
    for _, body, form in statements:
        inner = _last_boxed(body)
        key = normalise_answer(inner if inner is not None else body)
        if key:
            return FoundAnswer(key, form)
    return None


def stated_key(text: str) -> str | None:
    """The key of :func:`stated_answer` (``None`` when the text states no answer)."""
    found = stated_answer(text)
    return found.key if found is not None else None


def find_answer(text: str) -> FoundAnswer | None:
    """The stated answer of ``text``; failing that its last number; else ``None``."""
    stated = stated_answer(text)
    if stated is not None:
        return stated
    numbers = _numbers(text)
    if numbers:
        return FoundAnswer(_number_key(numbers[-1]), "last_number")
    return None


def extract_final_answer(text: str) -> str | None:
    """The key of :func:`find_answer` (``None`` when the text has no answer at all)."""
    found = find_answer(text)
    return found.key if found is not None else None


def asks_for_answer(question: str) -> bool:
    """Whether ``question`` asks for its answer in a stated form (an ``Answer:`` line,
    ``\\boxed{}``, a final answer)."""
    return _ANSWER_REQUEST.search(question) is not None


def expects_answer(question: str, solution: str | None) -> bool:
    """Whether a reply to ``question`` must state an answer: the question asks for one
    (:func:`asks_for_answer`), or the worked ``solution`` the reply is based on arrived
    at a stated answer."""
    if asks_for_answer(question):
        return True
    return solution is not None and stated_answer(solution) is not None


def answers_agree(keys: Sequence[str | None]) -> bool:
    """Whether answer ``keys`` agree: all the same, none missing (``None``). Fewer than two
    have nothing to disagree with."""
    return len(keys) < 2 or (None not in keys and len(set(keys)) == 1)


def majority_key(keys: Sequence[str | None]) -> str | None:
    """The answer key that more than half of ``keys`` state, and at least two of them;
    ``None`` when there is none (a missing answer counts against every key)."""
    counts = Counter(key for key in keys if key is not None)
    if not counts:
        return None
    key, count = counts.most_common(1)[0]
    return key if count >= 2 and count * 2 > len(keys) else None


def plurality_key(keys: Sequence[str | None]) -> str | None:
    """The answer key that more of ``keys`` state than any other, and at least two;
    ``None`` on a tie at the top or when no key is stated twice. Looser than
    :func:`majority_key`: ``5, 5, 6, 7`` has a plurality (5) and no majority."""
    ranked = Counter(key for key in keys if key is not None).most_common(2)
    if not ranked or ranked[0][1] < 2 or (len(ranked) == 2 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def normalise_answer(answer: str) -> str:
    """The comparison key of one stated answer (see the module docstring); ``""`` when
    nothing is left once markup is removed.

    ``" **$1,000.0$.** "``, ``"1000 dollars"`` and ``"1000"`` give ``"1000"``;
    ``"\\frac{1}{2}"`` and ``"0.50"`` give ``"0.5"``; ``"(B)"`` gives ``"b"``;
    ``"\\text{Paris}"`` and ``"paris"`` give ``"paris"``.
    """
    value = _clean(answer)
    if not value or _PLACEHOLDER.match(value):
        return ""
    letter = _LETTER.match(value)
    if letter:
        return letter.group(1)
    if "=" in value:
        right = value.rsplit("=", 1)[1].strip()
        if _numbers(right):
            value = right
    numbers = _numbers(value)
    if numbers and _is_numeric_answer(value, numbers):
        return _number_key(numbers[0])
    return value


def _clean(answer: str) -> str:
    value = answer.strip()
    value = re.sub(r"\\(?:text|textbf|mathrm|mbox|mathbf)\s*\{([^{}]*)\}", r"\1", value)
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("{,}", ",")):
        value = value.replace(old, new)
    value = value.replace("\\$", "$").replace("\\%", "%").replace("\\ ", " ")
    value = value.strip().strip("*_`$ ").rstrip(".").strip("*_`$ ")
    return re.sub(r"\s+", " ", value).lower()


def _is_numeric_answer(value: str, numbers: list[Fraction]) -> bool:
    """A number, optionally with a currency sign, a percent sign or unit words after it
    (``"18 dollars per week"``), or a sentence around a single number."""
    if len(numbers) == 1:
        return True
    leading = _NUMBER.match(value) or _FRAC.match(value)
    return leading is not None


def _numbers(text: str) -> list[Fraction]:
    """Every number in ``text`` in order: decimals, grouped thousands, ``a/b`` and
    ``\\frac{a}{b}`` fractions (a zero denominator is no number)."""
    found: list[tuple[int, Fraction]] = []
    fractions = list(_FRAC.finditer(text))
    for match in fractions:
        if int(match.group(2)) != 0:
            found.append((match.start(), Fraction(int(match.group(1)), int(match.group(2)))))
    for match in _NUMBER.finditer(text):
        if any(f.start() <= match.start() < f.end() for f in fractions):
            continue
        value = Fraction(match.group("digits").replace(",", ""))
        denominator = match.group("denominator")
        if denominator is not None:
            if int(denominator) == 0:
                continue
            value /= int(denominator)
        found.append((match.start(), -value if match.group("sign") else value))
    found.sort(key=lambda pair: pair[0])
    return [value for _, value in found]


def _number_key(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    if Fraction(repr(as_float)) == value:
        return repr(as_float)
    return f"{value.numerator}/{value.denominator}"


def _next_line(text: str, start: int) -> str:
    for line in text[start:].split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for match in _BOXED.finditer(text):
        depth = 1
        for position in range(match.end(), len(text)):
            if text[position] == "{":
                depth += 1
            elif text[position] == "}":
                depth -= 1
                if depth == 0:
                    found.append((match.start(), text[match.end() : position]))
                    break
    return found


def _last_boxed(text: str) -> str | None:
    contents = _boxed_contents(text)
    return contents[-1][1] if contents else None
