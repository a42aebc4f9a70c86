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
    final = prompts.final_task(None)
    assert "follow every instruction in my question about the form of the reply" in final
    fallback = prompts.fallback_task(QUESTION, None)
    assert "Follow every instruction the question gives about the form of the answer" in fallback
    assert QUESTION in fallback
    # The client's response_format still adds its own sentence after them.
    json_final = prompts.final_task({"type": "json_object"})
    assert json_final.index("form of the reply") < json_final.index("JSON")


def test_final_step_asks_for_the_reply_not_about_a_solution() -> None:
    """The recorded failure: a final step framed as a task about a solution drew replies
    about the prompt. The closing turn speaks as the asker and never calls the draft a
    "solution that was provided"."""
    for insist in (False, True):
        task = prompts.final_task(None, insist=insist)
        assert "my question" in task
        assert "solution" not in task.lower()
    assert "Answer: <your answer>" in prompts.final_task(None, insist=True)
    assert "Answer: <your answer>" not in prompts.final_task(None)
