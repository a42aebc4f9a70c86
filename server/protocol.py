"""OpenAI wire types for the routes this proxy serves.

Requests are validated for shape only: unknown fields are accepted (and passed on
upstream by the pass-through route), so a client using a newer API field never gets
a 500 or a spurious 400. The models here are never re-serialised for pass-through;
the original JSON goes upstream.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


class _Open(BaseModel):
    """Base for wire models: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: str = Field(min_length=1, max_length=64)
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class ChatCompletionRequest(_Open):
    """The body of ``POST /v1/chat/completions``."""

    model: str = Field(min_length=1, max_length=512)
    messages: list[ChatMessage] = Field(min_length=1, max_length=100_000)
    # Strict where the proxy acts on the value: "stream": "yes" or "n": "2" would be read
    # one way here and forwarded as they are, so they are refused (as OpenAI does).
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(None, ge=1, le=128)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    temperature: StrictFloat | None = Field(None, ge=0, le=2)
    top_p: StrictFloat | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: StrictInt | None = None
    user: str | None = None
    logprobs: StrictBool | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    reasoning_effort: str | None = None
    cepo: dict[str, Any] | None = None

    @property
    def wants_usage_chunk(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    @property
    def answer_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_list(self) -> list[str] | None:
        if self.stop is None:
            return None
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_dict(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning_tokens: int | None = None,
    estimated: bool = False,
) -> dict[str, Any]:
    """The OpenAI ``usage`` object; ``estimated`` is added only when counts were guessed."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    if estimated:
        usage["estimated"] = True
    return usage
