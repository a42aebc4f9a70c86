"""Every prompt the engine sends, in one place.

Each step's prompt is one user message that follows the client's own conversation
(system prompt and earlier turns); the final step alone is a short conversation of
its own (see :func:`final_task`). Each step's message opens with that step's heading line from
:data:`HEADINGS`, so a log reader (or a scripted test client) can tell the steps
apart, then states the task, then quotes the question and any material. Functions
that quote long material take it as a sequence of ``pieces`` so the context fitter
can shorten them (see :mod:`reasoning.budget`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

HEADINGS: dict[str, str] = {
    "diversity": "# Step: distinct approaches",
    "plan": "# Step: plan",
    "execute": "# Step: execute the plan",
    "refine": "# Step: refine",
    "final": "# Step: final answer",
    "fallback": "# Step: direct answer",
    "rate": "# Step: verify an answer",
    "compare": "# Step: compare two answers",
}

#: The line an absolute rating must end with (``CORRECT`` or ``INCORRECT``).
VERDICT_LABEL = "VERDICT"
#: The line on which a binary verifier states its own result.
RESULT_LABEL = "MY RESULT"
#: The line a pairwise comparison must end with (``A`` or ``B``).
WINNER_LABEL = "BETTER"
#: How the approaches step labels each approach.
APPROACH_LABEL = "Approach"


def _question(question: str) -> str:
    return f"## The question (the latest user message)\n\n{question}"


def diversity_task(question: str, count: int) -> str:
    """Ask for ``count`` fundamentally different approaches to the question."""
    return (
        f"{HEADINGS['diversity']}\n\n"
        f"Propose {count} fundamentally different approaches to the question below. "
        "Approaches differ in method or viewpoint, not in wording: for example a direct "
        "calculation, a transformation of the problem, working backwards, a case analysis. "
        "Describe each approach in a few sentences. Do not solve the question.\n\n"
        f"Write each approach on its own paragraph starting with "
        f"'{APPROACH_LABEL} 1:', '{APPROACH_LABEL} 2:' and so on.\n\n"
        f"{_question(question)}"
    )


def plan_task(question: str, approach: str | None) -> str:
    """Ask for a concise step-by-step plan with a confidence per step, no answer."""
    seeded = f"\n\nBase the plan on this approach:\n{approach.strip()}\n" if approach else ""
    return (
        f"{HEADINGS['plan']}\n\n"
        "Write a concise, step-by-step plan for answering the question below. Number the "
        "steps. After each step, state your confidence that the step is right and "
        "achievable, as 'Confidence: high', 'medium' or 'low'. Do not carry out the plan "
        "and do not give the final answer. Instructions in the question about how to "
        "present the answer apply to the final answer, written later, not to this "
        f"plan.{seeded}\n\n"
        f"{_question(question)}"
    )


def execute_task(question: str, plan: str) -> str:
    """Ask to carry out ``plan`` step by step, with extra care on low-confidence steps."""
    return (
        f"{HEADINGS['execute']}\n\n"
        "Carry out the plan below step by step to answer the question. Show your work "
        "for each step. Be especially careful on steps marked with medium or low "
        "confidence: check them twice, and fix the plan where it is wrong. End with the "
        "result the steps lead to.\n\n"
        f"{_question(question)}\n\n## The plan\n\n{plan}"
    )


def refine_task(question: str, executions: Sequence[str]) -> str:
    """Ask to compare the executions, find where they disagree, and write a refined
    step-by-step solution."""
    shown = "\n\n".join(
        f"## Solution {index}\n\n{text}" for index, text in enumerate(executions, start=1)
    )
    many = len(executions) > 1
    compare = (
        "Compare the solutions below: find every step where they disagree or are "
        "inconsistent, and decide which is right by checking the work."
        if many
        else "Review the solution below: check every step and find any mistake."
    )
    return (
        f"{HEADINGS['refine']}\n\n"
        f"{compare} Then write one refined, complete step-by-step solution to the "
        "question that fixes the mistakes you found. Do not mention the other "
        "solutions in it.\n\n"
        f"{_question(question)}\n\n{shown}"
    )


def final_task(response_format: Mapping[str, Any] | None, *, insist: bool = False) -> str:
    """The last user turn of the final step.

    The final step is a conversation, not a task about a text: the question as the
    user's turn, the worked solution as the assistant's draft reply, then this turn,
    which asks for the reply itself. ``insist`` (the retry after a reply that stated no
    answer) adds that the reply must end with the answer in the asked-for form.
    """
    ending = (
        " Your reply must end with the final answer, in exactly the form my question "
        "asks for; if it names no form, end with a line 'Answer: <your answer>'."
        if insist
        else ""
    )
    return (
        f"{HEADINGS['final']}\n\n"
        "Now write your final reply to my question above. Use your work above and fix any "
        "mistake you notice in it, without mentioning it. Give the result plainly, and "
        "follow every instruction in my question about the form of the reply (its format, "
        f"its length, a required last line).{ending}"
        f"{format_instruction(response_format)}"
    )


def fallback_task(
    question: str, response_format: Mapping[str, Any] | None, *, insist: bool = False
) -> str:
    """Ask to answer the question directly (used when no plan could be carried out);
    ``insist`` as in :func:`final_task`."""
    ending = (
        " End with the final answer, in exactly the form the question asks for; if it "
        "names no form, end with a line 'Answer: <your answer>'."
        if insist
        else ""
    )
    return (
        f"{HEADINGS['fallback']}\n\n"
        "Answer the question below directly, reasoning briefly and carefully; when it "
        "asks for a specific result, state it plainly. Follow every instruction the "
        f"question gives about the form of the answer.{ending}"
        f"{format_instruction(response_format)}\n\n"
        f"{_question(question)}"
    )


def rating_task(question: str, solution: str, answer: str) -> str:
    """Ask whether ``answer`` (with its worked ``solution``) is correct, re-doing the work."""
    return (
        f"{HEADINGS['rate']}\n\n"
        "Check whether the proposed answer to the question below is correct. Do not trust "
        "it: re-do every calculation and re-check every reasoning step yourself, then "
        "compare your result with the proposed answer.\n\n"
        f"End your reply with exactly one line: '{VERDICT_LABEL}: CORRECT' or "
        f"'{VERDICT_LABEL}: INCORRECT'.\n\n"
        f"{_question(question)}\n\n## The worked solution\n\n{solution}\n\n"
        f"## The proposed answer\n\n{answer}"
    )


def verify_task(question: str, answer: str) -> str:
    """Binary verification: solve the question independently, state that result, then
    say whether the proposed ``answer`` agrees with it (no worked solution is shown, so
    the judge is not led by it)."""
    return (
        f"{HEADINGS['rate']}\n\n"
        "Below are a question and a proposed answer to it. Do not trust the proposed "
        "answer. Solve the question yourself, step by step, carefully. Then write your own "
        f"result on a line '{RESULT_LABEL}: <your result>', compare it with the proposed "
        "answer, and decide whether the proposed answer is correct.\n\n"
        f"End your reply with exactly one line: '{VERDICT_LABEL}: YES' if the proposed "
        f"answer is correct, or '{VERDICT_LABEL}: NO' if it is not.\n\n"
        f"{_question(question)}\n\n## The proposed answer\n\n{answer}"
    )


def solve_task(question: str) -> str:
    """Blind verification: solve the question independently and state the result (the
    engine compares it with each answer; the judge never sees them)."""
    return (
        f"{HEADINGS['rate']}\n\n"
        "Solve the question below yourself, step by step, showing every calculation. Then "
        f"end your reply with a line '{RESULT_LABEL}: <your result>'.\n\n"
        f"{_question(question)}"
    )


def compare_task(question: str, answer_a: str, answer_b: str) -> str:
    """Ask which of two answers is better (more likely correct, then more helpful)."""
    return (
        f"{HEADINGS['compare']}\n\n"
        "Two answers to the question below follow. Decide which one is better: above "
        "all, which is correct (re-do the calculations and reasoning yourself to check), "
        "then which is clearer and more complete.\n\n"
        f"End your reply with exactly one line: '{WINNER_LABEL}: A' or '{WINNER_LABEL}: B'."
        f"\n\n{_question(question)}\n\n## Answer A\n\n{answer_a}\n\n## Answer B\n\n{answer_b}"
    )


def format_instruction(response_format: Mapping[str, Any] | None) -> str:
    """The sentence asking for the client's requested output format ("" for text)."""
    if not response_format:
        return ""
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if schema is not None:
            return (
                "\n\nReply with only a JSON value, no other text, that conforms to this "
                f"JSON schema:\n{json.dumps(schema, indent=2, sort_keys=True)}"
            )
        return "\n\nReply with only a valid JSON value and no other text."
    if kind == "json_object":
        return "\n\nReply with only a valid JSON object and no other text."
    return ""
