"""Why a CePO run ends without an answer.

Exception tree (all are :class:`~reasoning.llm.LLMError`, so the server renders them
as OpenAI errors like any upstream failure)::

    LLMError
    ├── ReasoningFailed       no candidate survived; carries the last upstream error
    ├── DeadlineExceeded      the request's deadline passed before any candidate finished
    ├── InvalidConversation   the messages hold no user turn to answer (status 400)
    └── ContextOverflow       a step's prompt cannot fit the context even shortened
"""

from __future__ import annotations

from reasoning.llm import LLMError


class ReasoningFailed(LLMError):
    """Every candidate failed. ``status`` / ``error_type`` / ``code`` are the last
    upstream error's (``status`` 502 when there was none)."""

    @classmethod
    def from_last_error(cls, error: LLMError | None) -> ReasoningFailed:
        if error is None:
            return cls("every CePO candidate failed", status=502)
        return cls(
            f"every CePO candidate failed; last upstream error: {error.message}",
            status=error.status if error.status is not None else 502,
            error_type=error.error_type,
            code=error.code,
            param=error.param,
        )


class DeadlineExceeded(LLMError):
    """The deadline passed while no candidate had a final answer (status 504)."""

    def __init__(self, message: str = "the request deadline passed before any answer") -> None:
        super().__init__(message, status=504, error_type="timeout", code="deadline_exceeded")


class InvalidConversation(LLMError):
    """The conversation cannot be reasoned about (no user message). Status 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400, error_type="invalid_request_error", param="messages")


class ContextOverflow(LLMError):
    """A step's prompt cannot be made to fit the model's context, so it was not sent.

    Raised before calling upstream; the engine treats it like a failed call.
    """

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            status=400,
            error_type="invalid_request_error",
            code="context_length_exceeded",
        )
