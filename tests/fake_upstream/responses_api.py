"""The fake's ``POST /v1/responses``, for upstreams that serve the Responses API themselves.

Served only when ``FakeUpstream.responses_route`` is 200; any other value is the status the
route answers with (404 by default, like an upstream without it). The reply text comes from the
same responder as chat completions, given a chat-shaped body (``messages`` from ``input``), so a
test scripts both routes the same way. Streams are the events OpenAI sends for a plain message
(``event:`` line and data, numbered from 0, no ``[DONE]``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.fake_upstream.replies import Reply, Responder, count_tokens, split_tokens

RESPONSES_PATH = "/v1/responses"


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the responder sees it: ``input`` as chat ``messages``."""
    source = body.get("input")
    if isinstance(source, str):
        messages = [{"role": "user", "content": source}]
    else:
        messages = [
            {"role": item.get("role", "user"), "content": item.get("content")}
            for item in source or []
            if isinstance(item, dict) and item.get("type", "message") == "message"
        ]
    return {**body, "messages": messages}


def reply_for(responder: Responder, body: dict[str, Any]) -> Reply:
    value = responder(chat_view(body))
    return value if isinstance(value, Reply) else Reply(value)


def response_object(
    body: dict[str, Any], text: str, message_id: str, response_id: str
) -> dict[str, Any]:
    """A completed response with one message."""
    words = count_tokens(text)
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": body.get("model"),
        "output": [
            {
                "id": message_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 3,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": words,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 3 + words,
        },
    }


def stream_events(body: dict[str, Any], text: str) -> list[bytes]:
    """The SSE events of a streamed response of ``text``, one per token for the deltas."""
    response_id = f"resp_{uuid.uuid4().hex}"
    message_id = f"msg_{uuid.uuid4().hex}"
    final = response_object(body, text, message_id, response_id)
    opening = {**final, "status": "in_progress", "output": [], "usage": None}
    common = {"item_id": message_id, "output_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    item = {**final["output"][0], "status": "in_progress", "content": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **common, "content_index": 0, "part": part},
    ]
    for token in split_tokens(text):
        events.append(
            {
                "type": "response.output_text.delta",
                **common,
                "content_index": 0,
                "delta": token,
                "logprobs": [],
            }
        )
    done_part = {**part, "text": text}
    events += [
        {
            "type": "response.output_text.done",
            **common,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        },
        {"type": "response.content_part.done", **common, "content_index": 0, "part": done_part},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": "response.completed", "response": final},
    ]
    return [
        f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()
        for n, event in enumerate(events)
    ]


def new_ids() -> tuple[str, str]:
    return f"msg_{uuid.uuid4().hex}", f"resp_{uuid.uuid4().hex}"
