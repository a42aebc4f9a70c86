"""Chat completion chunks in, Responses API events out: the stream encoder.

:class:`ResponseEncoder` is a pure, incremental state machine. Feed it the chunks of one
chat completion stream (``chat.completion.chunk`` objects, one choice); it returns the
Responses events they amount to, in the order OpenAI sends them and the SDKs' stream helpers
expect::

    response.created, response.in_progress
    per output item, in order of appearance:
      reasoning   output_item.added, reasoning_summary_part.added,
                  reasoning_summary_text.delta..., reasoning_summary_text.done,
                  reasoning_summary_part.done, output_item.done
      message     output_item.added, content_part.added, output_text.delta...,
                  output_text.done, content_part.done, output_item.done
      function    output_item.added, function_call_arguments.delta...,
                  function_call_arguments.done, output_item.done
    response.completed | response.incomplete (finish_reason length / content_filter)
    or, on failure: error, response.failed

Reasoning (``reasoning_content`` or ``reasoning`` deltas, and ``<think>`` blocks in the
content) becomes a reasoning item with summary text; content a message; ``tool_calls``
function_call items. Every event carries a ``sequence_number`` from 0. Usage comes from the
chunk that carries it; a ``cepo`` object on any chunk is kept and put on the response.
:attr:`ResponseEncoder.response` is the response object at any moment; after the terminal
event it is the final one (what a non-streaming request answers).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from reasoning.thinking import ThinkingSplitter
from server.event_stream import encode_event

#: Finish reasons that leave a response incomplete, and the reason it reports.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
#: Error types of the OpenAI envelope and the ``ResponseError.code`` they report.
_ERROR_CODES = {"rate_limit_error": "rate_limit_exceeded"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def sse_event(event: dict[str, Any]) -> bytes:
    """One event as OpenAI writes it: an ``event:`` line naming its type, then its data."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return encode_event(data, event=str(event["type"]))


class ResponseEncoder:
    """Builds one response from a chat completion stream (see the module docstring)."""

    def __init__(self, *, model: str, echo: dict[str, Any], response_id: str | None = None):
        self.response: dict[str, Any] = {
            "id": response_id or new_id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "model": model,
            "output": [],
            "usage": None,
            **echo,
        }
        self._sequence = 0
        self._open: dict[str, Any] | None = None  # the output item being streamed
        self._text: list[str] = []  # its text so far (summary, output text or arguments)
        self._calls: dict[int, dict[str, Any]] = {}  # open function_call items by tool index
        self._thinking = ThinkingSplitter()
        self._finish_reason: str | None = None
        self._ended = False

    # -- feeding ------------------------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        """The opening events."""
        return [
            self._event("response.created", response=self._snapshot()),
            self._event("response.in_progress", response=self._snapshot()),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The events for one chat completion chunk."""
        events: list[dict[str, Any]] = []
        if isinstance(chunk.get("usage"), dict):
            self.response["usage"] = responses_usage(chunk["usage"])
        if isinstance(chunk.get("cepo"), dict):
            self.response["cepo"] = chunk["cepo"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                events += self._delta(delta)
            if choice.get("finish_reason"):
                self._finish_reason = str(choice["finish_reason"])
        return events

    def finish(self) -> list[dict[str, Any]]:
        """Close what is open and end the response (completed or incomplete)."""
        answer, thinking = self._thinking.flush()
        events = self._reasoning(thinking) + self._content(answer)
        incomplete = _INCOMPLETE.get(self._finish_reason or "")
        events += self._close("incomplete" if incomplete else "completed")
        self._ended = True
        if incomplete:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": incomplete}
            return [*events, self._event("response.incomplete", response=self._snapshot())]
        self.response["status"] = "completed"
        return [*events, self._event("response.completed", response=self._snapshot())]

    def fail(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        """End the response as failed; ``error`` is the OpenAI envelope's ``error`` object."""
        message = str(error.get("message") or "the response failed")
        events = self._close("incomplete")
        self._ended = True
        events.append(
            self._event("error", code=error.get("code"), message=message, param=error.get("param"))
        )
        self.response["status"] = "failed"
        self.response["error"] = {
            "code": _ERROR_CODES.get(str(error.get("type")), "server_error"),
            "message": message,
        }
        return [*events, self._event("response.failed", response=self._snapshot())]

    @property
    def ended(self) -> bool:
        return self._ended

    # -- deltas -------------------------------------------------------------------------
    def _delta(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for key in ("reasoning_content", "reasoning"):
            value = delta.get(key)
            if isinstance(value, str) and value:
                events += self._reasoning(value)
                break
        content = delta.get("content")
        if isinstance(content, str) and content:
            answer, thinking = self._thinking.feed(content)
            events += self._reasoning(thinking) + self._content(answer)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                events += self._tool_call(call)
        return events

    def _reasoning(self, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        events = self._switch_to("reasoning")
        item = self._open
        assert item is not None
        self._text.append(text)
        events.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=item["id"],
                output_index=self._index(),
                summary_index=0,
                delta=text,
            )
        )
        return events

    def _content(self, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        events = self._switch_to("message")
        item = self._open
        assert item is not None
        self._text.append(text)
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self._index(),
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        index = call.get("index", 0)
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(function, dict)
        item = self._calls.get(index) if isinstance(index, int) else None
        if item is None or item is not self._open:
            events += self._close("completed")
            item = {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call.get("id") or new_id("call"),
                "name": function.get("name") or "",
                "arguments": "",
            }
            if isinstance(index, int):
                self._calls[index] = item
            events += self._add(item)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._text.append(arguments)
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self._index(),
                    delta=arguments,
                )
            )
        return events

    # -- output items ---------------------------------------------------------------------
    def _switch_to(self, kind: str) -> list[dict[str, Any]]:
        """Make an item of ``kind`` the open one (closing another), with its first part."""
        if self._open is not None and self._open["type"] == kind:
            return []
        events = self._close("completed")
        if kind == "reasoning":
            item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            events += self._add(item)
            events.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    item_id=item["id"],
                    output_index=self._index(),
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        else:
            item = {
                "id": new_id("msg"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            events += self._add(item)
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=self._index(),
                    content_index=0,
                    part=_output_text(""),
                )
            )
        return events

    def _add(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        self._open = item
        self._text = []
        self.response["output"].append(item)
        return [
            self._event("response.output_item.added", output_index=self._index(), item=dict(item))
        ]

    def _close(self, status: str) -> list[dict[str, Any]]:
        """Finish the open item: its done events, its final form in the output."""
        item = self._open
        if item is None:
            return []
        self._open = None
        text = "".join(self._text)
        index = self._index_of(item)
        common = {"item_id": item["id"], "output_index": index}
        events: list[dict[str, Any]] = []
        if item["type"] == "reasoning":
            part = {"type": "summary_text", "text": text}
            events.append(
                self._event(
                    "response.reasoning_summary_text.done", **common, summary_index=0, text=text
                )
            )
            events.append(
                self._event(
                    "response.reasoning_summary_part.done", **common, summary_index=0, part=part
                )
            )
            item["summary"] = [part]
        elif item["type"] == "message":
            part = _output_text(text)
            events.append(
                self._event(
                    "response.output_text.done", **common, content_index=0, text=text, logprobs=[]
                )
            )
            events.append(
                self._event("response.content_part.done", **common, content_index=0, part=part)
            )
            item["content"] = [part]
            item["status"] = status
        else:
            item["arguments"] = text
            item["status"] = status
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **common,
                    name=item["name"],
                    arguments=text,
                )
            )
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    # -- helpers ------------------------------------------------------------------------
    def _index(self) -> int:
        return len(self.response["output"]) - 1

    def _index_of(self, item: dict[str, Any]) -> int:
        return next(i for i, x in enumerate(self.response["output"]) if x is item)

    def _snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.response))  # type: ignore[no-any-return]

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def responses_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """A chat ``usage`` object as a Responses one (input / output / reasoning tokens)."""
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = (
        _count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0
    )
    out: dict[str, Any] = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": _count(usage.get("total_tokens")) or prompt + completion,
    }
    if usage.get("estimated"):
        out["estimated"] = True
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
