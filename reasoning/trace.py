"""Turning step outputs into trace text and quiet status lines.

:func:`step_text` is what a verbose block shows for one call: the model's own
thinking first (clearly marked) when there was any, then its output.
:class:`Progress` counts finished work and emits the short status lines of quiet
mode; they never contain model text.
"""

from __future__ import annotations

from collections.abc import Callable

from reasoning.events import Event, StatusUpdate
from reasoning.llm import LLMResponse

THINKING_START = "[the model's own thinking]"
THINKING_END = "[end of the model's own thinking]"


def step_text(response: LLMResponse) -> str:
    """The block text of a finished call: marked thinking (if any), then the output."""
    text = response.text.strip() or "(no text)"
    if response.reasoning.strip():
        return f"{THINKING_START}\n{response.reasoning.strip()}\n{THINKING_END}\n\n{text}"
    return text


def thinking_text(thinking: str) -> str:
    """Marked thinking alone (a live-streamed final step shows only this)."""
    return f"{THINKING_START}\n{thinking.strip()}\n{THINKING_END}"


class Progress:
    """Counters of finished work; each change emits one :class:`StatusUpdate`."""

    def __init__(self, emit: Callable[[Event], None], candidates: int, plans_each: int) -> None:
        self._emit = emit
        self.candidates = candidates
        self.plans_total = candidates * plans_each
        self.plans_ready = 0
        self.executions_done = 0
        self.refined = 0
        self.finals = 0
        self.rated = 0
        self.comparisons_done = 0
        self.comparisons_total = 0

    def say(self, text: str) -> None:
        self._emit(StatusUpdate(text))

    def plan_ready(self) -> None:
        self.plans_ready += 1
        self.say(f"Planning: {self.plans_ready} of {self.plans_total} plans ready")

    def execution_done(self) -> None:
        self.executions_done += 1
        self.say(f"Executing plans: {self.executions_done} of {self.plans_total} done")

    def refine_done(self) -> None:
        self.refined += 1
        self.say(f"Refining: {self.refined} of {self.candidates} candidates refined")

    def final_ready(self) -> None:
        self.finals += 1
        self.say(f"Final answers: {self.finals} of {self.candidates} ready")

    def rating_done(self) -> None:
        self.rated += 1
        self.say(f"Rating answers: {self.rated} of {self.candidates} rated")

    def comparisons_added(self, count: int) -> None:
        self.comparisons_total += count

    def comparison_done(self) -> None:
        self.comparisons_done += 1
        self.say(
            f"Comparing answers: {self.comparisons_done} of {self.comparisons_total} "
            "comparisons done"
        )
