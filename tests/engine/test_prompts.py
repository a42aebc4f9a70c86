"""The step prompts keep the user's own instructions where they belong.

Found in the accuracy traces (issue 8): a question that asks for a required last line
("end with `Answer: <value>`") made plans carry out the whole solution to obey it, while
final answers dropped the line. Instructions about the answer's form are for the final
answer (and the direct fallback); plans are told so.
"""

from __future__ import annotations

from reasoning import prompts

QUESTION = "How many r's are in 'strawberry'? End with a line `Answer: <number>`."


def test_the_plan_step_leaves_answer_format_instructions_to_the_final_answer() -> None:
    task = prompts.plan_task(QUESTION, None)
    assert "do not give the final answer" in task
    assert "apply to the final answer" in task
    assert task.endswith(QUESTION)


def test_final_and_fallback_steps_follow_the_questions_format_instructions() -> None:
    final = prompts.final_task(QUESTION, "Count: s-t-r-a-w-b-e-r-r-y has three r's.", None)
    fallback = prompts.fallback_task(QUESTION, None)
    for task in (final, fallback):
        assert "Follow every instruction the question gives about the form of the answer" in task
        assert QUESTION in task
    # The client's response_format still adds its own sentence after them.
    json_final = prompts.final_task(QUESTION, "3", {"type": "json_object"})
    assert json_final.index("form of the answer") < json_final.index("JSON")
