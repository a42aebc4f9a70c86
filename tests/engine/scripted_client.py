"""A scripted :class:`LLMClient` for engine tests.

It recognises each step from the heading line of the prompt's last message
(:data:`reasoning.prompts.HEADINGS`; a last message without a step heading is the
client's own question, sent as it stands: step ``direct``), answers after a simulated
latency, and
records every call: the request, the step, start and end times (loop clock) and
how it ended (``ok``, ``error`` or ``cancelled``). Behaviour per step is replaced
with :meth:`ScriptedClient.on`; a responder gets the :class:`ScriptedCall` and
returns an :class:`LLMResponse`, a string (answered with ``finish_reason="stop"``),
or an :class:`LLMError` to raise. :data:`HANG` makes the call wait until cancelled;
:class:`Slow` delays one reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from reasoning.llm import LLMDelta, LLMError, LLMRequest, LLMResponse, TokenUsage
from reasoning.prompts import HEADINGS

HANG = object()
#: The step name of a call that sends the client's question itself.
DIRECT = "direct"


@dataclass(frozen=True)
class Slow:
    """Answer ``reply`` after ``extra`` seconds on top of the usual latency."""

    extra: float
    reply: object


USAGE = TokenUsage(prompt_tokens=10, completion_tokens=5)

DEFAULT_REPLIES: dict[str, str] = {
    "diversity": "Approach 1: count directly.\n\nApproach 2: work backwards.\n\n"
    "Approach 3: draw a table.",
    "plan": "1. Add the numbers. Confidence: high\n2. Check the sum. Confidence: medium",
    "execute": "Step 1: 40 + 2 = 42. Step 2: checked. Result: 42",
    "refine": "Both solutions agree. Refined solution: 40 + 2 = 42.",
    "final": "The total is 42.\n\nFinal answer: 42",
    "fallback": "Directly: Final answer: 42",
    "direct": "42, plainly. Final answer: 42",
    "rate": "Re-did it: 40 + 2 = 42.\nVERDICT: CORRECT",
    "compare": "Both fine; A is clearer.\nBETTER: A",
}

Reply = LLMResponse | str | LLMError | object
Responder = Callable[["ScriptedCall"], Reply]


@dataclass
class ScriptedCall:
    """One recorded call. ``ordinal`` counts calls of the same step from 1."""

    step: str
    ordinal: int
    request: LLMRequest
    streamed: bool
    started: float
    ended: float | None = None
    outcome: str = "running"

    @property
    def prompt(self) -> str:
        return str(self.request.messages[-1]["content"])

    @property
    def draft(self) -> str:
        """The assistant's draft reply the final step's conversation holds ("" if none)."""
        messages = self.request.messages
        if len(messages) >= 2 and messages[-2].get("role") == "assistant":
            return str(messages[-2]["content"])
        return ""


@dataclass
class ScriptedClient:
    latency: float = 0.02
    context: int = 100_000
    usage: TokenUsage | None = USAGE
    stream_pieces: int = 3
    responders: dict[str, Responder] = field(default_factory=dict)
    latencies: dict[str, float] = field(default_factory=dict)
    calls: list[ScriptedCall] = field(default_factory=list)
    context_requests: list[str] = field(default_factory=list)
    _changed: asyncio.Event | None = None

    def on(self, step: str, responder: Responder) -> ScriptedClient:
        assert step in HEADINGS or step == DIRECT, step
        self.responders[step] = responder
        return self

    # -- queries used by the tests ----------------------------------------------------
    def steps(self) -> list[str]:
        return [call.step for call in self.calls]

    def of(self, step: str) -> list[ScriptedCall]:
        return [call for call in self.calls if call.step == step]

    def count(self, step: str) -> int:
        return len(self.of(step))

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked when a call starts."""
        while not predicate():
            self._changed = asyncio.Event()
            await self._changed.wait()

    # -- LLMClient ------------------------------------------------------------------
    async def context_length(self, model: str) -> int:
        self.context_requests.append(model)
        return self.context

    async def complete(self, request: LLMRequest) -> LLMResponse:
        call, reply = self._begin(request, streamed=False)
        try:
            response = await self._resolve(call, reply)
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        finally:
            call.ended = _now()
        call.outcome = "ok"
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMDelta | LLMResponse]:
        call, reply = self._begin(request, streamed=True)
        try:
            response = await self._resolve(call, reply)
            size = max(1, -(-len(response.text) // self.stream_pieces))
            if response.reasoning:
                yield LLMDelta(reasoning=response.reasoning)
            for start in range(0, len(response.text), size):
                await asyncio.sleep(self.latency / 10)
                yield LLMDelta(text=response.text[start : start + size])
            yield response
        except (asyncio.CancelledError, GeneratorExit):
            call.outcome = "cancelled"
            raise
        finally:
            call.ended = _now()
            if call.outcome == "running":
                call.outcome = "ok"

    # -- internals ------------------------------------------------------------------
    def _begin(self, request: LLMRequest, *, streamed: bool) -> tuple[ScriptedCall, Reply]:
        step = _recognise(str(request.messages[-1]["content"]))
        call = ScriptedCall(step, self.count(step) + 1, request, streamed, _now())
        self.calls.append(call)
        if self._changed is not None:
            self._changed.set()
        responder = self.responders.get(step)
        reply = responder(call) if responder is not None else DEFAULT_REPLIES[step]
        return call, reply

    async def _resolve(self, call: ScriptedCall, reply: Reply) -> LLMResponse:
        if reply is HANG:
            await asyncio.Event().wait()
        if isinstance(reply, Slow):
            await asyncio.sleep(reply.extra)
            reply = reply.reply
        await asyncio.sleep(self.latencies.get(call.step, self.latency))
        if isinstance(reply, LLMError):
            call.outcome = "error"
            raise reply
        if isinstance(reply, str):
            return LLMResponse(reply, "stop", usage=self.usage)
        assert isinstance(reply, LLMResponse), reply
        return reply


def _recognise(prompt: str) -> str:
    for step, heading in HEADINGS.items():
        if prompt.startswith(heading):
            return step
    if prompt.startswith("# Step"):
        raise AssertionError(f"unrecognised step: {prompt[:80]!r}")
    return DIRECT


def _now() -> float:
    return asyncio.get_running_loop().time()


def cut_off(text: str = "1. Start the long") -> LLMResponse:
    """A reply cut off by its token limit."""
    return LLMResponse(text, "length", usage=USAGE)
