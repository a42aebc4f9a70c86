"""The context of one request: what every layer serving it needs to know about it.

A :class:`RequestContext` is created where the request enters the app (the observation
middleware, :func:`context_of`), filled in by the layers that learn something (auth: the
forwarded key; the route: deadline, model, mode) and passed explicitly to everything below
(the upstream client, the limiter, the metrics, the engine's LLM client). When the response
has ended, the observation middleware reads it back for the access-log line and the metrics.
All tasks serving a request run on one event loop, so it is mutated in place without locks.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope

#: Key of the context in the ASGI scope's ``state`` (so ``request.state.context``).
SCOPE_KEY = "context"


@dataclass(slots=True)
class RequestStats:
    """What one request cost upstream: calls, retries and tokens."""

    upstream_calls: int = 0
    upstream_retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class RequestContext:
    """One request being served.

    ``priority`` orders its upstream calls in the fair limiter (older requests first) and
    ``deadline`` bounds them; both are ``time.monotonic()`` times. ``forwarded_key`` is the
    caller's bearer token in forwarding mode (sent upstream instead of the configured key,
    never logged). ``mode``, ``model``, ``outcome`` and ``error_status`` describe the request
    in the access log and the metrics; ``prompt`` and ``answers`` are logged only when a
    route sets them (``CEPO_LOG_CONTENT=true``).
    """

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    priority: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    forwarded_key: str | None = None
    stats: RequestStats = field(default_factory=RequestStats)
    mode: str = "none"
    model: str = "none"
    outcome: str | None = None
    error_status: int | None = None
    prompt: Any = None
    answers: list[str] = field(default_factory=list)

    def start_deadline(self, seconds: float) -> None:
        """Start the request's clock now: its calls rank from now, its deadline is
        ``seconds`` away."""
        self.priority = time.monotonic()
        self.deadline = self.priority + seconds

    def seconds_left(self) -> float | None:
        """Seconds until the deadline (negative once passed), ``None`` without one."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def log_fields(self) -> dict[str, Any]:
        """The request's fields for its access-log line (no key, ever)."""
        fields: dict[str, Any] = {"request_id": self.request_id, "mode": self.mode}
        if self.model != "none":
            fields["model"] = self.model
        if self.outcome is not None:
            fields["outcome"] = self.outcome
        if self.error_status is not None:
            fields["error_status"] = self.error_status
        if self.prompt is not None:
            fields["prompt"] = self.prompt
        if self.answers:
            fields["answer"] = self.answers[0] if len(self.answers) == 1 else list(self.answers)
        stats = self.stats
        fields.update(
            upstream_calls=stats.upstream_calls,
            upstream_retries=stats.upstream_retries,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
        )
        return fields


def context_of(scope: Scope) -> RequestContext:
    """The context of the request of ``scope``, created there on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    context = state.get(SCOPE_KEY)
    if not isinstance(context, RequestContext):
        context = state[SCOPE_KEY] = RequestContext()
    return context
