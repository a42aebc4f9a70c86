"""CePO on a conversation with tools: what the steps see, which step may call a tool.

Contract:

* Tool turns in the history (assistant ``tool_calls``, ``tool`` results) are context,
  written out as text (:func:`tool_turns_as_text`), so no step needs the tools to read
  them. The tool calls and results that follow the latest user message belong to the
  question being answered and are appended to it; the names of the offered tools are
  appended too, so that plans can count on them.
* Only the step that writes the answer (final step or direct fallback) is offered the
  tools, with the client's ``tool_choice`` (:func:`offer_tools`); planning, execution,
  refinement and rating calls carry none.
* With several candidates (:func:`majority_kind`): when more finished candidates answered
  with a tool call than in text, the answer is a tool call, chosen among those candidates
  by the usual selection rule; when more answered in text, it is text, chosen likewise;
  on a tie the usual rule chooses among all of them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reasoning.calls import Step
from reasoning.conversation import content_text
from reasoning.llm import Message
from reasoning.trace import render_tool_calls

if TYPE_CHECKING:
    from reasoning.scope import Candidate

#: Added to the answer step's task when the model may call a tool.
TOOL_NOTE = (
    "\n\nTools are available to you with this request. If the question cannot be answered "
    "well without calling one of them, call the tool now instead of answering in text."
)
_DESCRIPTION_CHARS = 200


@dataclass(frozen=True, slots=True)
class ToolOffer:
    """The client's tools, offered to the answer step only.

    ``tools`` and ``tool_choice`` (``"auto"``, ``"none"`` or ``None``) are the request's own,
    in the OpenAI wire shape; ``parallel_tool_calls`` is forwarded when the client set it.
    """

    tools: tuple[Mapping[str, Any], ...]
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    def request_fields(self) -> dict[str, Any]:
        """The body fields of the answer step's call."""
        fields: dict[str, Any] = {"tools": [dict(tool) for tool in self.tools]}
        if self.tool_choice is not None:
            fields["tool_choice"] = self.tool_choice
        if self.parallel_tool_calls is not None:
            fields["parallel_tool_calls"] = self.parallel_tool_calls
        return fields

    def describe(self) -> str:
        """One line per tool: ``name(parameters): description``."""
        return "\n".join(f"- {_signature(tool)}" for tool in self.tools)


def offer_tools(step: Step, offer: ToolOffer | None) -> Step:
    """``step`` (an answer step) with the tools in its request and the note in its task."""
    if offer is None:
        return step
    task = step.task
    note = "" if offer.tool_choice == "none" else TOOL_NOTE

    def task_with_note(pieces: Sequence[str]) -> str:
        return task(pieces) + note

    return dataclasses.replace(
        step, task=task_with_note, extra={**step.extra, **offer.request_fields()}
    )


def tool_turns_as_text(messages: Sequence[Message], offer: ToolOffer | None) -> list[Message]:
    """The history with tool turns written as assistant text (see the module docstring).

    Without tool turns and offered tools the history is unchanged, except that turns
    after the latest user message are dropped (as
    :class:`~reasoning.conversation.Conversation` drops them).
    """
    question_at = _last_user(messages)
    if question_at is None:
        return list(messages)
    names = _call_names(messages)
    before: list[Message] = []
    for message in messages[:question_at]:
        rendered = _as_text(message, names)
        if rendered is None:
            before.append(message)
        elif before and before[-1].get("role") == "assistant" and _is_tool_turn(message):
            previous = before[-1]
            joined = f"{content_text(previous.get('content'))}\n\n{rendered}".strip()
            before[-1] = {**previous, "content": joined}
        else:
            before.append({"role": "assistant", "content": rendered})
    trailing = messages[question_at + 1 :]
    after = []
    if any(_is_tool_turn(message) for message in trailing):  # else dropped, as without tools
        after = [
            text
            for message in trailing
            if (text := _as_text(message, names) or content_text(message.get("content")).strip())
        ]
    question = messages[question_at]
    additions = []
    if after:
        additions.append("Already done for this request:\n" + "\n\n".join(after))
    if offer is not None and offer.tools:
        additions.append("Tools the final answer may call:\n" + offer.describe())
    if not additions:
        return [*before, question]
    return [*before, _appended(question, "\n\n".join(additions))]


def majority_kind(finalists: list[Candidate]) -> tuple[list[Candidate], str | None]:
    """The finalists the answer is chosen from, and the rule applied (``None``: no
    candidate called a tool, nothing to decide)."""
    calling = [c for c in finalists if c.final is not None and c.final.tool_calls]
    if not calling:
        return finalists, None
    texting = [c for c in finalists if c not in calling]
    total = len(finalists)
    if not texting:
        return finalists, f"all {total} candidates answered with a tool call"
    if len(calling) > len(texting):
        return calling, f"{len(calling)} of {total} candidates called a tool: the answer is a call"
    if len(texting) > len(calling):
        return texting, f"{len(texting)} of {total} candidates answered in text: no tool call"
    return finalists, "as many candidates called a tool as answered in text: the rule decides"


# -- helpers ----------------------------------------------------------------------------


def _last_user(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _is_tool_turn(message: Message) -> bool:
    return message.get("role") == "tool" or bool(message.get("tool_calls"))


def _call_names(messages: Sequence[Message]) -> dict[str, str]:
    """Tool call id -> function name, from every assistant turn's ``tool_calls``."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                names[str(call.get("id"))] = str(call["function"].get("name", "?"))
    return names


def _as_text(message: Message, names: Mapping[str, str]) -> str | None:
    """A tool turn written out as text; ``None`` for any other message."""
    if message.get("role") == "tool":
        call_id = str(message.get("tool_call_id"))
        name = names.get(call_id, str(message.get("name") or "a tool"))
        result = content_text(message.get("content")).strip() or "(empty)"
        return f"Result of {name} (call {call_id}):\n{result}"
    calls = message.get("tool_calls")
    if message.get("role") == "assistant" and calls:
        said = content_text(message.get("content")).strip()
        listed = render_tool_calls([c for c in calls if isinstance(c, Mapping)])
        ids = ", ".join(str(c.get("id")) for c in calls if isinstance(c, Mapping))
        text = f"{listed}\n(call ids: {ids})"
        return f"{said}\n{text}" if said else text
    return None


def _appended(message: Message, text: str) -> Message:
    content = message.get("content")
    if isinstance(content, list):
        return {**message, "content": [*content, {"type": "text", "text": text}]}
    return {**message, "content": f"{content_text(content)}\n\n{text}"}


def _signature(tool: Mapping[str, Any]) -> str:
    function = tool.get("function")
    if not isinstance(function, Mapping):
        return json.dumps(dict(tool))[:_DESCRIPTION_CHARS]
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    names = ", ".join(properties) if isinstance(properties, Mapping) else ""
    description = str(function.get("description") or "").strip().splitlines()
    summary = description[0][:_DESCRIPTION_CHARS] if description else ""
    head = f"{function.get('name', '?')}({names})"
    return f"{head}: {summary}" if summary else head
