"""Python literals in a model's reply (CRUXEval output prediction), read without executing anything.

Only :func:`ast.parse` and :func:`ast.literal_eval` ever see model text: no call, name
lookup or operator other than what ``literal_eval`` accepts is evaluated. Inputs longer
than :data:`MAX_LITERAL_CHARS` are not parsed.

Where the literal is looked for, in tiers (within a tier, the last in the reply wins):

1. explicit statements (``\\boxed{}``, ``Answer: ...`` with the value on the line or
   in the block right after it, "the final answer is ...");
2. ``assert f(...) == X`` lines, fenced code blocks whose last statement is a literal,
   an assert or a comparison, and "the output / return value / result is ...";
3. the reply's last non-empty line, if it is a literal on its own.

A candidate may be wrapped in backticks, a code fence, ``**`` or followed by sentence
punctuation; ``f(x) == X`` and ``f(x) = X`` give ``X``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from bench.accuracy.extraction import find_statements, strip_thinking

MAX_LITERAL_CHARS = 20_000

_FENCE = re.compile(r"```[ \t]*[\w+-]*[ \t]*\n(?P<body>.*?)```", re.DOTALL)
_ASSERT = re.compile(r"^[ \t]*assert\b[^\n]*==[^\n]*$", re.MULTILINE)
_OUTPUT_IS = re.compile(
    r"\b(?:(?:output|return\s+value|result)\s*(?:\*\*|__)?\s*(?:is|would\s+be|will\s+be|:)"
    r"|returns|will\s+return|would\s+return)[ \t]*:?[ \t]*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_WRAPPERS = ("**", "__", "```", "`")
_PARSE_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


@dataclass(frozen=True, slots=True)
class LiteralAnswer:
    """A literal found in a reply: ``found`` tells whether ``value`` means anything.

    ``candidate`` is the text that was (or, when nothing parsed, would have been) read,
    kept for the record; ``method`` names where it came from (``none`` when nowhere).
    """

    found: bool
    value: Any
    candidate: str | None
    method: str


def _unwrap(text: str) -> str:
    text = text.strip()
    without_period = text.rstrip(".,;:!").rstrip()
    if without_period.endswith(("`", "*", "_")):
        text = without_period
    fence = _FENCE.search(text + ("\n" if not text.endswith("\n") else ""))
    if text.startswith("```") and fence:
        text = fence.group("body").strip()
    changed = True
    while changed:
        changed = False
        for wrapper in _WRAPPERS:
            if (
                len(text) >= 2 * len(wrapper)
                and text.startswith(wrapper)
                and text.endswith(wrapper)
            ):
                text = text[len(wrapper) : -len(wrapper)].strip()
                changed = True
    return text


def _literal_of_node(node: ast.AST) -> tuple[bool, Any]:
    if isinstance(node, ast.Assert):
        node = node.test
    elif isinstance(node, ast.Expr | ast.Assign):
        node = node.value
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        node = node.comparators[0]
    try:
        return True, ast.literal_eval(node)
    except _PARSE_ERRORS:
        return False, None


def parse_literal(text: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``text`` states one Python literal, else ``(False, None)``.

    Accepts a bare literal, one wrapped in backticks / a fence / ``**``, one followed by
    ``.`` or ``,``, and the right-hand side of ``f(...) == X``, ``assert f(...) == X``
    or ``f(...) = X``. Never executes anything.
    """
    text = _unwrap(text)
    if not text or len(text) > MAX_LITERAL_CHARS:
        return False, None
    for attempt in (text, text.rstrip(".,;").rstrip()):
        try:
            return True, ast.literal_eval(attempt)
        except _PARSE_ERRORS:
            pass
        try:
            module = ast.parse(attempt)
        except _PARSE_ERRORS:
            continue
        if module.body:
            ok, value = _literal_of_node(module.body[-1])
            if ok:
                return ok, value
    for match in re.finditer(r"(?<![=!<>])=(?!=)", text):
        try:
            return True, ast.literal_eval(text[match.end() :].strip().rstrip(".,;"))
        except _PARSE_ERRORS:
            continue
    return _leading_literal(text)


def _leading_literal(text: str) -> tuple[bool, Any]:
    """The longest literal that starts a one-line ``text`` and ends before a space:
    ``"[1, 2] (sorted)"`` -> ``[1, 2]``."""
    if "\n" in text or len(text) > 1_000:
        return False, None
    ends = [m.start() for m in re.finditer(r"\s", text)]
    for end in reversed(ends):
        try:
            return True, ast.literal_eval(text[:end].rstrip(".,;:"))
        except _PARSE_ERRORS:
            continue
    return False, None


def _tier_two(text: str) -> list[tuple[int, str, str]]:
    found = [(m.start(), m.group(0), "assert") for m in _ASSERT.finditer(text)]
    found += [(m.start(), m.group("body"), "code_block") for m in _FENCE.finditer(text)]
    found += [(m.start(), m.group("rest"), "output_is") for m in _OUTPUT_IS.finditer(text)]
    found.sort(key=lambda entry: entry[0], reverse=True)
    return found


def extract_literal(reply: str) -> LiteralAnswer:
    """The final Python literal of ``reply`` (see the module docstring for the rules)."""
    text = strip_thinking(reply)
    first_candidate: str | None = None
    tiers: list[list[tuple[str, str]]] = [
        [(statement.text, statement.method) for statement in find_statements(text)],
        [(candidate, method) for _, candidate, method in _tier_two(text)],
    ]
    lines = [line for line in text.splitlines() if line.strip()]
    if lines:
        tiers.append([(lines[-1], "last_line")])
    for tier in tiers:
        for candidate, method in tier:
            ok, value = parse_literal(candidate)
            if ok:
                return LiteralAnswer(True, value, candidate.strip(), method)
            if first_candidate is None and candidate.strip():
                first_candidate = candidate.strip()
    return LiteralAnswer(False, None, first_candidate, "none")


def literals_equal(predicted: Any, expected: Any) -> bool:
    """Python ``==`` between two literals (as CRUXEval's own check does), never raising."""
    try:
        return bool(predicted == expected)
    except Exception:  # comparing two literals cannot fail in practice; be safe anyway
        return False
