"""Turning step outputs into trace text and quiet status lines.

:func:`step_text` is what a verbose block shows for one call: the model's own
thinking first (clearly marked) when there was any, then its output.
:class:`Progress` emits the short status lines of quiet mode, one per stage; they
never contain model text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reasoning.config import CePOConfig
from reasoning.events import Event, StatusUpdate
from reasoning.llm import LLMResponse

THINKING_START = "[the model's own thinking]"
THINKING_END = "[end of the model's own thinking]"


def output_text(response: LLMResponse) -> str:
    """A reply's output as text: its text, then its tool calls, one line each."""
    text = response.text.strip()
    if response.tool_calls:
        text = f"{text}\n{render_tool_calls(response.tool_calls)}".strip()
    return text


def step_text(response: LLMResponse) -> str:
    """The block text of a finished call: marked thinking (if any), then the output
    (:func:`output_text`)."""
    text = output_text(response) or "(no text)"
    if response.reasoning.strip():
        return f"{THINKING_START}\n{response.reasoning.strip()}\n{THINKING_END}\n\n{text}"
    return text


def render_tool_calls(tool_calls: Sequence[Mapping[str, Any]]) -> str:
    """Tool calls as trace text, one line each: ``Tool call: name(arguments)``."""
    lines = []
    for call in tool_calls:
        function = call.get("function")
        if not isinstance(function, Mapping):
            function = {}
        lines.append(f"Tool call: {function.get('name', '?')}({function.get('arguments', '')})")
    return "\n".join(lines)


def thinking_text(thinking: str) -> str:
    """Marked thinking alone (a live-streamed final step shows only this)."""
    return f"{THINKING_START}\n{thinking.strip()}\n{THINKING_END}"


def attempt_noun(config: CePOConfig) -> str:
    """What a candidate's attempts make, in the opening lines: plans, or plain solutions
    without ``plan_step``."""
    return "plans" if config.plan_step else "solutions (no plans)"


class Progress:
    """Quiet mode's status lines: one as the run starts and one as each stage begins.

    Lines name what is happening, never counts of finished calls, so a run has a few of
    them whatever its size: with ``n`` candidates, ``started``, ``planning``, executing,
    refining, writing the final answer(s), rating or comparing (``n > 1``), choosing
    (``n > 1``), and at most one line each about rejected planning attempts, answering
    directly and a final answer written again.
    """

    def __init__(self, emit: Callable[[Event], None], config: CePOConfig) -> None:
        self._emit = emit
        self.config = config
        self.candidates = config.bestofn_n
        self.plans_total = config.bestofn_n * config.planning_n
        self.plans_ready = 0
        self.executions_done = 0
        self.refined = 0
        self.finals = 0
        self.rated = 0
        self.comparisons_done = 0
        self.comparisons_total = 0
        self._said: set[str] = set()

    def say(self, text: str) -> None:
        self._emit(StatusUpdate(text))

    def say_once(self, text: str) -> None:
        """``say`` the first time only: lines about what may happen to any candidate."""
        if text not in self._said:
            self._said.add(text)
            self.say(text)

    def started(self) -> None:
        config = self.config
        candidates = "1 candidate" if config.bestofn_n == 1 else f"{config.bestofn_n} candidates"
        self.say(
            f"Reasoning: {candidates}, {config.planning_n} {attempt_noun(config)} each "
            f"(up to {config.planning_m} attempts)"
        )

    def planning(self) -> None:
        self.say("Planning" if self.config.plan_step else "Sampling solutions")

    def plan_ready(self) -> None:
        self.plans_ready += 1
        if self.plans_ready == 1:
            self.say("Executing the plans")

    def execution_done(self) -> None:
        self.executions_done += 1

    def attempt_rejected(self) -> None:
        self.say_once(
            f"Some {'planning ' if self.config.plan_step else ''}attempts were cut off or "
            "failed; replacing them "
            f"(up to {self.config.planning_m} attempts per candidate)"
        )

    def refine_done(self) -> None:
        self.refined += 1
        if self.refined == 1:
            self.say("Refining the solutions")
            self.say(
                "Writing the final answer" if self.candidates == 1 else "Writing the final answers"
            )

    def answering_directly(self) -> None:
        self.say_once("The executions disagree; answering the question directly")

    def rewriting_final(self) -> None:
        self.say_once("A final answer overturns its executions; writing it again from one of them")

    def final_ready(self) -> None:
        self.finals += 1
        if self.finals == 1 and self.candidates > 1:
            rating = self.config.bestofn_rating_type
            if rating in ("absolute", "binary", "blind"):
                self.say("Rating the answers")
            elif rating == "pairwise":
                self.say("Comparing the answers in pairs")

    def rating_done(self) -> None:
        self.rated += 1

    def comparisons_added(self, count: int) -> None:
        self.comparisons_total += count

    def comparison_done(self) -> None:
        self.comparisons_done += 1
