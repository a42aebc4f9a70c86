"""The seam between the engine and whatever serves the model.

The server implements :class:`LLMClient` over HTTP; engine tests implement it with a
scripted fake. Errors cross the seam as :class:`LLMError` and nothing else.

Exception tree::

    LLMError                 an upstream call failed (after the client's own retries)
    └── LLMTimeout           no first byte / no next chunk within the read timeout
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One chat completion to run upstream.

    ``extra`` is forwarded verbatim into the request body (``seed``, ``user``,
    ``response_format``, ``top_p``...); the named fields win over it.
    """

    model: str
    messages: Sequence[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    stop: Sequence[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call, or a sum of calls. ``estimated`` when any count was guessed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A finished call.

    ``text`` is the answer with any model-side thinking removed; that thinking
    (a ``reasoning_content`` / ``reasoning`` field, or a ``<think>`` block in the
    content) is in ``reasoning``. ``finish_reason`` is ``"length"`` when the token
    limit cut the answer off. ``usage`` is ``None`` only when it could not even be
    estimated. ``tool_calls`` holds the tool calls the model made (OpenAI wire shape:
    ``{"id", "type": "function", "function": {"name", "arguments"}}``), whole.
    """

    text: str
    finish_reason: str | None = "stop"
    reasoning: str = ""
    usage: TokenUsage | None = None
    tool_calls: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class LLMDelta:
    """A piece of a streamed answer (``text``) or of the model's own thinking."""

    text: str = ""
    reasoning: str = ""


class LLMError(Exception):
    """An upstream call failed for good.

    ``status`` is the upstream's HTTP status when there was one (``None`` for
    connection failures); ``error_type`` and ``code`` follow the OpenAI error shape.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str = "upstream_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.code = code
        self.param = param


class LLMTimeout(LLMError):
    """The upstream sent nothing within the read timeout."""


class LLMClient(Protocol):
    """What the engine needs from a model server."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one call to the end. Raises :class:`LLMError`."""
        ...

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMDelta | LLMResponse]:
        """Run one call, yielding :class:`LLMDelta` pieces as they arrive, then exactly one
        :class:`LLMResponse` summarising the whole call (full text, finish reason, usage).

        Callers close the iterator (``contextlib.aclosing``) when they stop early;
        closing it ends the upstream call. Raises :class:`LLMError`.
        """
        ...

    async def context_length(self, model: str) -> int:
        """The model's context window in tokens (from the upstream, else configured)."""
        ...
