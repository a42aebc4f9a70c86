"""What each kind of upstream needs: defaults and the quirks the proxy works around.

This is the one table of per-kind behaviour. The upstream client reads it; nothing
else in the code base branches on the kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

UpstreamKindName = Literal["openai", "cerebras", "vllm", "ollama", "llamacpp", "local"]


@dataclass(frozen=True, slots=True)
class UpstreamKind:
    """Defaults and quirks of one kind of OpenAI-compatible upstream."""

    name: UpstreamKindName
    #: Upstream calls in flight at once (``CEPO_UPSTREAM_MAX_CONCURRENCY`` overrides).
    default_max_concurrency: int
    #: Seconds to wait for the first byte and between chunks (``CEPO_UPSTREAM_READ_TIMEOUT``).
    default_read_timeout: float
    #: The upstream ignores ``n``: the proxy sends ``n`` parallel calls and merges them.
    ignores_n: bool
    #: The upstream does not know ``max_completion_tokens``: send ``max_tokens`` instead.
    wants_max_tokens: bool
    #: The upstream rejects ``reasoning_content`` / ``reasoning`` on history messages.
    rejects_reasoning_in_history: bool
    #: Streams carry no usage chunk even when ``stream_options.include_usage`` is set.
    omits_stream_usage: bool
    #: Default context length when the upstream's model list does not state one.
    default_context_length: int


KINDS: dict[str, UpstreamKind] = {
    kind.name: kind
    for kind in (
        UpstreamKind("openai", 32, 120.0, False, False, False, False, 128_000),
        # Cerebras: n > 1 is not verified to work on every model, so it is split.
        UpstreamKind("cerebras", 32, 60.0, True, False, True, False, 65_536),
        UpstreamKind("vllm", 64, 300.0, False, False, False, False, 32_768),
        UpstreamKind("ollama", 4, 600.0, True, True, False, False, 8_192),
        UpstreamKind("llamacpp", 1, 900.0, True, True, False, True, 8_192),
        UpstreamKind("local", 1, 900.0, True, True, False, True, 8_192),
    )
}


def guess_kind(base_url: str | None) -> UpstreamKindName:
    """Guess the upstream kind from its URL; no URL means the embedded local model."""
    if not base_url:
        return "local"
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host.endswith("cerebras.ai"):
        return "cerebras"
    if parts.port == 11434 or "ollama" in host:
        return "ollama"
    if "vllm" in host:
        return "vllm"
    return "openai"
