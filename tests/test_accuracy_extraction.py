"""Answer extraction and scoring for the accuracy harness, on replies shaped like real output."""

from __future__ import annotations

from fractions import Fraction

import pytest

from bench.accuracy.extraction import (
    extract_number,
    find_statements,
    format_number,
    numbers_in,
    parse_number,
    strip_thinking,
)
from bench.accuracy.literals import extract_literal, literals_equal, parse_literal
from bench.accuracy.scoring import score_reply

# --- numbers (GSM8K) ------------------------------------------------------------------------

GSM8K_REPLIES = [
    # (reply, expected value, method)
    (
        "Janet's ducks lay 16 eggs. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 eggs.\n"
        "She sells them at $2 each: 9 * 2 = $18.\n\nAnswer: 18",
        18,
        "answer_line",
    ),
    ("**Answer:** $1,000.00", 1000, "answer_line"),
    ("**Answer: 70,000**", 70000, "answer_line"),
    ("### Final Answer: 540 meters", 540, "answer_line"),
    (
        "The profit is 200,000 - 130,000 = 70,000.\n\nThe final answer is $\\boxed{70,000}$.",
        70000,
        "boxed",
    ),
    (
        "So he runs 3 * 3 * 60 = 540 meters.\n\nFinal Answer: The final answer is 540",
        540,
        "answer_is",
    ),
    ("Therefore, the answer is 12 hours.", 12, "answer_is"),
    ("Total: 16 - 3 - 4 = 9\n\nAnswer: 9 × 2 = 18 dollars", 18, "answer_line"),
    ("answer: -5", -5, "answer_line"),
    ("Answer: −12", -12, "answer_line"),
    ("Answer: 5.00", 5, "answer_line"),
    ("Answer: 0.5", Fraction(1, 2), "answer_line"),
    ("The percentage is 25%.\nAnswer: 25%", 25, "answer_line"),
    ("$$\\boxed{\\frac{3}{4}}$$", Fraction(3, 4), "boxed"),
    ("\\boxed{\\text{18 dollars}}", 18, "boxed"),
    ("\\boxed{1{,}250}", 1250, "boxed"),
    ("\\boxed{\\$ 42}", 42, "boxed"),
    ("First I found 12, then 13, and in the end she has 20 apples left.", 20, "last_number"),
    ("Answer: 12\n\nWait, I forgot the second week. 12 * 2 = 24.\nAnswer: 24", 24, "answer_line"),
    ("Answer: \\boxed{36}", 36, "boxed"),
    ("Final Answer:\n\n**18**", 18, "answer_line"),
    ("The answer is:\n\n$$ 7 $$", 7, "answer_is"),
    ("- 3 eggs for breakfast\n- 4 eggs for muffins", 4, "last_number"),
    ("Between 10-5 items", 5, "last_number"),
    ("<think>Maybe 3? Answer: 3</think>\nThe total is 4.", 4, "last_number"),
    ("Answer: see the steps above.\nShe has 8 left.", 8, "last_number"),
]


@pytest.mark.parametrize(("reply", "value", "method"), GSM8K_REPLIES)
def test_number_extraction_from_realistic_replies(
    reply: str, value: int | Fraction, method: str
) -> None:
    found = extract_number(reply)
    assert found.value == value
    assert found.method == method


def test_no_number_at_all() -> None:
    found = extract_number("I cannot solve this problem.")
    assert found.value is None
    assert found.method == "none"


def test_nested_braces_in_boxed() -> None:
    statements = find_statements("x \\boxed{\\frac{1}{2} + \\text{{a}}} y")
    assert statements[0].method == "boxed"
    assert statements[0].text == "\\frac{1}{2} + \\text{{a}}"


def test_answer_line_with_value_on_following_lines() -> None:
    statements = find_statements("Answer:\n\n42 apples\n\nThanks")
    assert statements[0].text == "42 apples"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,000", Fraction(1000)),
        ("-3.5", Fraction(-7, 2)),
        ("$2,125", Fraction(2125)),
        ("1,450,000", Fraction(1450000)),
        (".5", Fraction(1, 2)),
    ],
)
def test_parse_reference_numbers(text: str, expected: Fraction) -> None:
    assert parse_number(text) == expected


def test_numbers_keep_lists_apart_from_thousands() -> None:
    assert [value for _, value in numbers_in("items 1,2,3 and 4,000")] == [1, 2, 3, 4000]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1000), "1000"),
        (Fraction(5, 2), "2.5"),
        (Fraction(1, 3), "1/3"),
        (Fraction(-4), "-4"),
    ],
)
def test_format_number(value: Fraction, text: str) -> None:
    assert format_number(value) == text


def test_strip_thinking_variants() -> None:
    assert strip_thinking("<think>a</think>b") == "b"
    assert strip_thinking("a</think>b") == "b"
    assert strip_thinking("b<think>unfinished thoughts") == "b"
    assert strip_thinking("<THINK>x</THINK>y") == "y"


# --- letters ----------------------------------------------------------------------------------

LETTER_REPLIES = [
    ("Let's spell it: s-t-r-a-w-b-e-r-r-y. The r's are at positions 3, 8 and 9.\nAnswer: 3", 3),
    ("There are three r's in strawberry.", 3),
    ("Answer: three", 3),
    ("The letter 'a' appears twice in the word.", 2),
    ("Answer: **5**", 5),
    ("Counting: b(1) a(2) n(3) a(4) n(5) a(6)... the letter a appears 3 times.", 3),
    ("I count eleven of them.\n\nAnswer: 11", 11),
]


@pytest.mark.parametrize(("reply", "value"), LETTER_REPLIES)
def test_letter_counts(reply: str, value: int) -> None:
    assert extract_number(reply, words=True).value == value


def test_number_words_only_for_letters() -> None:
    assert extract_number("There are three of them.").value is None
    assert score_reply("letters", "There are three of them.", "3").correct
    assert not score_reply("gsm8k", "There are three of them.", "3").correct


# --- Python literals (CRUXEval) ---------------------------------------------------------------

LITERAL_REPLIES = [
    ("The function appends 'q'.\nAnswer: 'bcksrutq'", "bcksrutq", "answer_line"),
    ("Answer: `False`", False, "answer_line"),
    ("Answer: [1, 2] (sorted in place)", [1, 2], "answer_line"),
    ("**Answer:** {'l': 1, 't': 2}", {"l": 1, "t": 2}, "answer_line"),
    ("Answer: f('abc') == 'cba'.", "cba", "answer_line"),
    ("Answer:\n```python\n[(4, 1), (4, 1), (2, 3)]\n```", [(4, 1), (4, 1), (2, 3)], "answer_line"),
    ("Answer:\n```\n{1: None, 2: None}\n```", {1: None, 2: None}, "answer_line"),
    ("Tracing the loop...\n```python\nassert f([1, 1, 3]) == [3, 1, 1]\n```", [3, 1, 1], "assert"),
    ("So:\nassert f('hi') == 'HI'", "HI", "assert"),
    ("The output is:\n```python\n'new-medium'\n```", "new-medium", "code_block"),
    ("Therefore the function returns 'zejrohaj'.", "zejrohaj", "output_is"),
    ("The output is `(0, 'xx')`.", (0, "xx"), "output_is"),
    ("Step 1 ...\nStep 2 ...\n'123314'", "123314", "last_line"),
    ("Answer: b'abc'", b"abc", "answer_line"),
    ("Answer: -3.5", -3.5, "answer_line"),
    ("Answer: f(x) = 'abc'", "abc", "answer_line"),
    ("Answer: 'a=b'", "a=b", "answer_line"),
    ("The final answer is '           '.", "           ", "answer_is"),
]


@pytest.mark.parametrize(("reply", "value", "method"), LITERAL_REPLIES)
def test_literal_extraction_from_realistic_replies(reply: str, value: object, method: str) -> None:
    found = extract_literal(reply)
    assert found.found
    assert found.value == value
    assert type(found.value) is type(value)
    assert found.method == method


@pytest.mark.parametrize(
    "reply",
    [
        "Answer: hello world",
        "Answer: __import__('os').system('echo pwned')",
        "Answer: open('/etc/passwd').read()",
        "I am not sure what this returns.",
        "",
    ],
)
def test_unparsable_or_unsafe_literals_are_not_found(reply: str) -> None:
    found = extract_literal(reply)
    assert not found.found
    assert found.value is None


def test_literal_parsing_never_evaluates_calls(tmp_path: object) -> None:
    ok, value = parse_literal("[print('side effect')]")
    assert (ok, value) == (False, None)


def test_huge_literal_is_refused() -> None:
    assert parse_literal("[" + "1," * 20_000 + "]") == (False, None)


def test_literal_equality_is_python_equality() -> None:
    assert literals_equal((1, 2), (1, 2))
    assert not literals_equal((1, 2), [1, 2])
    assert literals_equal(1, 1.0)
    assert not literals_equal("1", 1)


# --- the shared verdict -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "reply", "expected", "extracted", "correct"),
    [
        ("gsm8k", "Answer: $2,125", "2,125", "2125", True),
        ("gsm8k", "Answer: 2125.0", "2125", "2125", True),
        ("gsm8k", "Answer: 2124", "2125", "2124", False),
        ("gsm8k", "no idea", "5", None, False),
        ("letters", "Answer: 4", "4", "4", True),
        ("cruxeval", "Answer: [(4, 1), (2, 3)]", "[(4, 1), (2, 3)]", "[(4, 1), (2, 3)]", True),
        ("cruxeval", "Answer: [[4, 1], [2, 3]]", "[(4, 1), (2, 3)]", "[[4, 1], [2, 3]]", False),
        ("cruxeval", "Answer: 'UppEr'", "'UppEr'", "'UppEr'", True),
        ("cruxeval", "Answer: UppEr", "'UppEr'", None, False),
    ],
)
def test_score_reply(
    dataset: str, reply: str, expected: str, extracted: str | None, correct: bool
) -> None:
    score = score_reply(dataset, reply, expected)  # type: ignore[arg-type]
    assert score.extracted == extracted
    assert score.correct is correct


def test_score_reply_rejects_a_broken_reference() -> None:
    with pytest.raises(ValueError, match="has no number"):
        score_reply("gsm8k", "Answer: 3", "none")
