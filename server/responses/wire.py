"""The body of ``POST /v1/responses``, validated for shape only.

Unknown fields are kept (and passed on, as for chat completions); fields the proxy acts on
are strict, so ``"stream": "yes"`` is a 400 rather than read one way and forwarded another.
Input items and tools stay plain JSON (``input`` and ``tool_choice``, which take several
shapes, are not checked here at all): :mod:`server.responses.to_chat` reads them and answers
what it cannot translate with a 400 that names the item.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


class ResponsesRequest(BaseModel):
    """``POST /v1/responses``: the fields the proxy reads."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=512)
    input: Any = None
    instructions: str | None = None
    stream: StrictBool | None = False
    max_output_tokens: StrictInt | None = Field(None, ge=1)
    temperature: StrictFloat | None = Field(None, ge=0, le=2)
    top_p: StrictFloat | None = Field(None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: StrictBool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    store: StrictBool | None = None
    background: StrictBool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    include: list[str] | None = None
    truncation: str | None = None
