"""The per-kind request fixes, applied to a body just before it goes upstream.

Each fix is driven by a flag of :class:`config.upstream_kinds.UpstreamKind`; the
README lists them. The body passed in is never mutated.
"""

from __future__ import annotations

from typing import Any

from config.upstream_kinds import UpstreamKind

_REASONING_FIELDS = ("reasoning_content", "reasoning")


def prepare_body(body: dict[str, Any], kind: UpstreamKind) -> dict[str, Any]:
    """The body to send to an upstream of ``kind``: a copy when anything changes."""
    out = body
    if kind.wants_max_tokens and "max_completion_tokens" in body:
        out = dict(out)
        limit = out.pop("max_completion_tokens")
        out.setdefault("max_tokens", limit)
    if kind.rejects_reasoning_in_history:
        messages = body.get("messages")
        if isinstance(messages, list) and any(
            isinstance(m, dict) and any(f in m for f in _REASONING_FIELDS) for m in messages
        ):
            out = dict(out) if out is body else out
            out["messages"] = [
                {k: v for k, v in m.items() if k not in _REASONING_FIELDS}
                if isinstance(m, dict)
                else m
                for m in messages
            ]
    return out


def split_count(body: dict[str, Any], kind: UpstreamKind) -> int:
    """How many single-choice calls replace this body (1 = send as is)."""
    n = body.get("n")
    if kind.ignores_n and isinstance(n, int) and n > 1:
        return n
    return 1


def single_choice(body: dict[str, Any]) -> dict[str, Any]:
    """The body of one of the calls that replace an ``n > 1`` request."""
    out = dict(body)
    out.pop("n", None)
    return out
