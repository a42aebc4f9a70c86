"""Running one step's upstream call: fit the prompt, build the request, keep the books.

:class:`StepCaller` is the only place the engine talks to the :class:`LLMClient`. For
every call it fits the prompt into the model's context (shortening quoted pieces if
needed and saying so through ``notify``), sends the run's forwarded fields, and
records the call's start, end, outcome and usage in the :class:`RunLedger`.
Cancellation is recorded and re-raised, never swallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasoning.budget import Fitted, fit_prompt
from reasoning.conversation import Conversation
from reasoning.events import Event, TraceBlock
from reasoning.ledger import CallRecord, RunLedger
from reasoning.llm import LLMClient, LLMDelta, LLMError, LLMRequest, LLMResponse, Message


@dataclass(frozen=True, slots=True)
class Step:
    """What one call needs besides its prompt.

    ``task(pieces)`` renders the step's user message from ``pieces`` (the quoted texts
    the fitter may shorten). With ``draft`` the step is the final step's conversation:
    ``pieces[0]`` is the assistant's draft reply to the question and ``task`` the user
    turn after it (see :meth:`Conversation.with_draft`). ``stop`` and
    ``response_format`` are set on final-answer steps only. ``model`` replaces the
    run's model for this call (the rating model).
    """

    stage: str
    label: str
    task: Callable[[Sequence[str]], str]
    pieces: Sequence[str]
    temperature: float
    max_tokens: int
    candidate: int | None = None
    attempt: int | None = None
    stop: Sequence[str] | None = None
    response_format: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    draft: bool = False
    model: str | None = None


class StepCaller:
    """Runs steps for one run against one model.

    ``reasoning_effort`` (the preset's upstream reasoning effort) is sent with every
    call. When the upstream refuses it (a 400 or 422 naming ``reasoning_effort``), the
    call is repeated once without it and no later call of the run sends it; the ledger
    notes the drop.
    """

    def __init__(
        self,
        client: LLMClient,
        model: str,
        conversation: Conversation,
        forward: Mapping[str, Any],
        context_length: int | None,
        ledger: RunLedger,
        notify: Callable[[Event], None],
        reasoning_effort: str | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._conversation = conversation
        self._forward = dict(forward)
        self._context_length = context_length
        self._ledger = ledger
        self._notify = notify
        self._effort = reasoning_effort

    async def complete(self, step: Step) -> LLMResponse:
        """Run ``step`` to the end. Raises :class:`LLMError` (including a prompt that
        cannot fit, before any call)."""
        request = self._checked_request(step)
        record = self._ledger.call_started(step.stage, step.candidate, step.attempt)
        try:
            response = await self._client.complete(request)
        except BaseException as error:
            self._settle(record, error)
            if not self._effort_refused(request, error):
                raise
            return await self.complete(step)
        self._ledger.call_finished(record, response)
        return response

    async def stream(self, step: Step, on_delta: Callable[[LLMDelta], None]) -> LLMResponse:
        """Run ``step`` streaming, handing each :class:`LLMDelta` to ``on_delta`` as it
        arrives; return the closing :class:`LLMResponse`. The upstream stream is closed
        however this ends. Raises :class:`LLMError`."""
        request = self._checked_request(step)
        record = self._ledger.call_started(step.stage, step.candidate, step.attempt)
        stream = self._client.stream(request)
        final: LLMResponse | None = None
        delivered = False

        def deliver(delta: LLMDelta) -> None:
            nonlocal delivered
            delivered = True
            on_delta(delta)

        try:
            try:
                async for item in stream:
                    if isinstance(item, LLMResponse):
                        final = item
                    else:
                        deliver(item)
            finally:
                await _close(stream)
            if final is None:
                raise LLMError("the upstream stream ended without a final response")
        except BaseException as error:
            self._settle(record, error)
            if delivered or not self._effort_refused(request, error):
                raise
            return await self.stream(step, on_delta)
        self._ledger.call_finished(record, final)
        return final

    def _effort_refused(self, request: LLMRequest, error: BaseException) -> bool:
        """Whether ``error`` is the upstream refusing the reasoning effort ``request``
        sent; if so, stop sending it (the caller repeats the call once)."""
        if "reasoning_effort" not in request.extra:
            return False
        if not isinstance(error, LLMError) or error.status not in (400, 422):
            return False
        said = f"{error.param or ''} {error.message}".lower()
        if "reasoning_effort" not in said and "reasoning effort" not in said:
            return False
        if self._effort is None:  # a call running at the same time already dropped it
            return True
        self._ledger.notes.append(
            f"the upstream refused reasoning_effort={self._effort!r} "
            f"({error.message}); the run's calls go on without it"
        )
        self._ledger.reasoning_effort_dropped = True
        self._effort = None
        return True

    def _checked_request(self, step: Step) -> LLMRequest:
        try:
            return self._request(step)
        except LLMError as error:  # the prompt cannot fit: no call is made
            self._ledger.last_error = error
            raise

    def _request(self, step: Step) -> LLMRequest:
        conversation = self._conversation

        def build(pieces: Sequence[str]) -> list[Message]:
            if step.draft:
                return conversation.with_draft(pieces[0], step.task(pieces))
            return conversation.with_task(step.task(pieces))

        fitted: Fitted = fit_prompt(build, step.pieces, step.max_tokens, self._context_length)
        if fitted.shortened:
            self._ledger.context_shortened.append(
                {"stage": step.stage, "candidate": step.candidate, "attempt": step.attempt}
            )
            self._notify(
                TraceBlock(
                    title=f"{step.label}: material shortened to fit the context",
                    text=(
                        f"The texts quoted to this step would not fit the model's context of "
                        f"{self._context_length} tokens together with its limit of "
                        f"{step.max_tokens} output tokens, so the middle of the longest ones "
                        "was cut (each keeps its beginning and its conclusion)."
                    ),
                    stage="note",
                    candidate=step.candidate,
                    attempt=step.attempt,
                )
            )
        extra = {**self._forward, **dict(step.extra)}
        if self._effort is not None:
            extra["reasoning_effort"] = self._effort
        if step.response_format is not None:
            extra["response_format"] = dict(step.response_format)
        return LLMRequest(
            model=step.model or self._model,
            messages=fitted.messages,
            temperature=step.temperature,
            max_tokens=fitted.max_tokens,
            stop=list(step.stop) if step.stop else None,
            extra=extra,
        )

    def _settle(self, record: CallRecord, error: BaseException) -> None:
        if isinstance(error, LLMError):
            self._ledger.call_failed(record, error)
        elif isinstance(error, asyncio.CancelledError | GeneratorExit):
            self._ledger.call_cancelled(record)
        else:
            self._ledger.call_failed(record, LLMError(f"internal error: {error!r}"))


async def _close(stream: AsyncIterator[LLMDelta | LLMResponse]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
