"""Pure helpers: thinking split, answer extraction, verdicts, approaches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reasoning.answers import extract_final_answer, normalise_answer
from reasoning.approaches import parse_approaches
from reasoning.thinking import ThinkingSplitter, split_thinking
from reasoning.verdicts import parse_verdict, parse_winner


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain answer", ("plain answer", "")),
        ("<think>plan it</think>\n\nThe answer", ("The answer", "plan it")),
        ("<think>a</think>x<think>b</think>y", ("xy", "a\n\nb")),
        ("  <think>cut off while thinking", ("", "cut off while thinking")),
        ("thinking only closed</think>answer", ("answer", "thinking only closed")),
        ("<think></think>answer", ("answer", "")),
    ],
)
def test_split_thinking(text: str, expected: tuple[str, str]) -> None:
    assert split_thinking(text) == expected


def _feed_all(pieces: list[str], expect_thinking: bool = False) -> tuple[str, str]:
    splitter = ThinkingSplitter(expect_thinking=expect_thinking)
    answer, thinking = "", ""
    for piece in pieces:
        a, t = splitter.feed(piece)
        answer, thinking = answer + a, thinking + t
    a, t = splitter.flush()
    return answer + a, thinking + t


@given(st.data())
def test_thinking_splitter_matches_split_thinking_at_any_split(data: st.DataObject) -> None:
    text = data.draw(
        st.sampled_from(
            [
                "<think>step one\nstep two</think>\n\nThe answer is 4.",
                "No thinking here, just <b>markup</b>.",
                "<think>cut off while thinki",
                "\n<think>a</think>b",
            ]
        )
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    answer, thinking = _feed_all(pieces)
    assert (answer.strip(), thinking.strip()) == split_thinking(text)


def test_thinking_splitter_with_missing_opening_tag() -> None:
    answer, thinking = _feed_all(["I ponder", "</thi", "nk>Result"], expect_thinking=True)
    assert (answer, thinking) == ("Result", "I ponder")


def test_thinking_splitter_leaves_a_late_think_tag_in_the_answer() -> None:
    assert _feed_all(["Use <think> tags", " like this"]) == ("Use <think> tags like this", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the result is \\boxed{\\frac{1}{2}}.", "0.5"),
        ("\\boxed{12} then later \\boxed{13}", "13"),
        ("Final answer: **$1,000.0$.**", "1000"),
        ("Answer: Paris.", "paris"),
        ("The answer is: B", "b"),
        ("Computed 3 apples and 4 pears, 7 total", "7"),
        ("-0.50 is what we get", "-0.5"),
        ("Final answer: \\boxed{\\text{Yes}}", "yes"),
        ("no numbers or labels", None),
    ],
)
def test_extract_final_answer(text: str, expected: str | None) -> None:
    assert extract_final_answer(text) == expected


def test_normalised_answers_compare_equal_across_formatting() -> None:
    assert normalise_answer(" 42.0 ") == normalise_answer("**42**") == "42"
    assert normalise_answer("Two  Words") == "two words"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("work...\nVERDICT: CORRECT", True),
        ("**Verdict:** incorrect", False),
        ("VERDICT: INCORRECT\nOn reflection, VERDICT: CORRECT", True),
        ("looks correct to me", None),
        ("", None),
    ],
)
def test_parse_verdict(text: str, expected: bool | None) -> None:
    assert parse_verdict(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("BETTER: A", "A"), ("**Better:** Answer B", "B"), ("both good", None)],
)
def test_parse_winner(text: str, expected: str | None) -> None:
    assert parse_winner(text) == expected


def test_parse_approaches_labelled_and_numbered() -> None:
    labelled = (
        "Sure.\n**Approach 1:** algebra\nmore\n\n### Approach 2 - geometry\nApproach 3: guess"
    )
    assert parse_approaches(labelled, 3) == ["algebra\nmore", "geometry", "guess"]
    assert parse_approaches(labelled, 2) == ["algebra\nmore", "geometry"]
    assert parse_approaches("1. first\n2) second", 5) == ["first", "second"]
    assert parse_approaches("no structure at all", 3) == []
