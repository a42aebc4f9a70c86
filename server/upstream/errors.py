"""Upstream error bodies, normalised into the OpenAI envelope.

Shapes seen in the wild: the OpenAI envelope ``{"error": {...}}``; vLLM's flat
``{"object": "error", "message", "type", "param", "code"}``; Cerebras's flat
``{"message", "type", "param", "code"}``; Ollama's ``{"error": "text"}``; and
plain text from proxies in between. The upstream's HTTP status is always kept.
"""

from __future__ import annotations

import json
from typing import Any

from reasoning.llm import LLMError

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def normalise_error(status: int, body: bytes) -> dict[str, Any]:
    """The OpenAI ``error`` object for an upstream error response."""
    default_type = _TYPE_BY_STATUS.get(status, "upstream_error")
    message: str | None = None
    error_type: str | None = None
    param: str | None = None
    code: str | None = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        source: dict[str, Any] | None = None
        if isinstance(inner, dict):
            source = inner
        elif isinstance(inner, str):
            message = inner
        elif "message" in parsed or "detail" in parsed:
            source = parsed
        if source is not None:
            raw_message = source.get("message", source.get("detail"))
            message = raw_message if isinstance(raw_message, str) else _str_or_none(raw_message)
            error_type = _str_or_none(source.get("type"))
            param = _str_or_none(source.get("param"))
            code = _str_or_none(source.get("code"))
    elif body:
        message = body[:500].decode("utf-8", "replace").strip() or None
    if error_type in (None, "", "error", "BadRequestError"):
        error_type = default_type
    return {
        "message": message or f"upstream answered HTTP {status}",
        "type": error_type,
        "param": param,
        "code": code,
    }


def upstream_http_error(status: int, body: bytes) -> LLMError:
    """An :class:`LLMError` carrying the upstream's status and normalised fields."""
    fields = normalise_error(status, body)
    return LLMError(
        fields["message"],
        status=status,
        error_type=fields["type"],
        code=fields["code"],
        param=fields["param"],
    )
