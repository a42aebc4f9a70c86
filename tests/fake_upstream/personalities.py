"""The documented quirks of each kind of OpenAI-compatible upstream, as one table.

Sources (checked while writing this; quirks are reproduced, not invented):

- OpenAI: errors ``{"error": {"message", "type", "param", "code"}}``; ``n`` honoured; with
  ``stream_options.include_usage`` every chunk carries ``"usage": null`` and a last chunk with
  ``"choices": []`` carries the usage.
- Cerebras Cloud: flat error body ``{"message", "type", "param", "code"}`` (for example
  ``{"message": "messages.2.assistant.reasoning_content: property
  'messages.2.assistant.reasoning_content' is unsupported", "type": "invalid_request_error",
  "param": "validation_error", "code": "wrong_api_format"}``, a 400 for ``reasoning_content`` on
  history messages, reported in several client projects' issue trackers); reasoning returned
  in a ``reasoning`` field; rate-limit headers ``x-ratelimit-{limit,remaining,reset}-
  {requests-day,tokens-minute}`` on every response (inference-docs.cerebras.ai/support/rate-limits).
- vLLM: flat error body ``{"object": "error", "message", "type", "param", "code"}`` with the
  numeric status as ``code``; reasoning in ``reasoning_content``; ``/v1/models`` entries carry
  ``root``, ``parent``, ``max_model_len`` and a ``permission`` list; ``owned_by: "vllm"``.
- Ollama (``/v1`` compatibility layer): errors in the OpenAI envelope with type
  ``invalid_request_error`` (400), ``not_found_error`` (404) or ``api_error``, ``param`` and
  ``code`` null (its native ``/api`` routes use ``{"error": "..."}``; script that with
  ``Fault.status(code, body={"error": "..."})``); ignores ``n`` (one choice);
  does not know ``max_completion_tokens`` (only ``max_tokens`` limits the reply); reasoning in
  ``reasoning``; ``owned_by: "library"``.
- llama.cpp server: errors ``{"error": {"code": <status>, "message", "type"}}``; refuses
  ``n != 1`` ("Only one completion choice is allowed", its chat parameter parser; reported as a
  500 ``server_error``, newer builds say 400); ignores ``stream_options.include_usage`` (no
  usage chunk); reasoning in
  ``reasoning_content``; ``/v1/models`` entries carry ``owned_by: "llamacpp"`` and a ``meta``
  object with ``n_ctx_train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

PersonalityName = Literal["openai", "cerebras", "vllm", "ollama", "llamacpp"]
#: What the upstream does with ``n > 1``: several choices, one choice, or an error.
NPolicy = Literal["honour", "ignore", "reject"]

#: Context length the fake reports where a personality lists one.
CONTEXT_LENGTH = 8192

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def _error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def _openai_error(status: int, message: str, param: str | None, code: str | None) -> Any:
    return {
        "error": {"message": message, "type": _error_type(status), "param": param, "code": code}
    }


def _cerebras_error(status: int, message: str, param: str | None, code: str | None) -> Any:
    return {"message": message, "type": _error_type(status), "param": param, "code": code}


def _vllm_error(status: int, message: str, param: str | None, code: str | None) -> Any:
    names = {400: "BadRequestError", 404: "NotFoundError", 429: "TooManyRequests"}
    return {
        "object": "error",
        "message": message,
        "type": names.get(status, "InternalServerError" if status >= 500 else "BadRequestError"),
        "param": param,
        "code": status,
    }


def _ollama_error(status: int, message: str, param: str | None, code: str | None) -> Any:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _llamacpp_error(status: int, message: str, param: str | None, code: str | None) -> Any:
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
    default = "unavailable_error" if status == 503 else "server_error"
    return {"error": {"code": status, "message": message, "type": kind.get(status, default)}}


def _plain_model(owned_by: str) -> Callable[[str, int], dict[str, Any]]:
    def entry(model_id: str, created: int) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}

    return entry


def _vllm_model(model_id: str, created: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": model_id,
        "parent": None,
        "max_model_len": CONTEXT_LENGTH,
        "permission": [
            {
                "id": f"modelperm-{model_id}",
                "object": "model_permission",
                "created": created,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }


def _llamacpp_model(model_id: str, created: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "llamacpp",
        "meta": {"vocab_type": 2, "n_vocab": 32000, "n_ctx_train": CONTEXT_LENGTH, "n_embd": 2048},
    }


ErrorShape = Callable[[int, str, "str | None", "str | None"], Any]


@dataclass(frozen=True, slots=True)
class Personality:
    """How one kind of upstream behaves where kinds differ."""

    name: PersonalityName
    error_body: ErrorShape
    model_entry: Callable[[str, int], dict[str, Any]]
    #: Field carrying reasoning text in ``message`` / ``delta``.
    reasoning_field: str
    n_policy: NPolicy
    honours_include_usage: bool
    knows_max_completion_tokens: bool
    #: Message fields on history messages answered with a 400.
    rejected_history_fields: tuple[str, ...]
    #: Sends Cerebras-style ``x-ratelimit-*`` headers on every chat completion response.
    rate_limit_headers: bool


PERSONALITIES: dict[str, Personality] = {
    p.name: p
    for p in (
        Personality(
            "openai", _openai_error, _plain_model("system"), "reasoning_content",
            "honour", True, True, (), False,
        ),
        Personality(
            "cerebras", _cerebras_error, _plain_model("Meta"), "reasoning",
            "honour", True, True, ("reasoning_content",), True,
        ),
        Personality(
            "vllm", _vllm_error, _vllm_model, "reasoning_content",
            "honour", True, True, (), False,
        ),
        Personality(
            "ollama", _ollama_error, _plain_model("library"), "reasoning",
            "ignore", True, False, (), False,
        ),
        Personality(
            "llamacpp", _llamacpp_error, _llamacpp_model, "reasoning_content",
            "reject", False, True, (), False,
        ),
    )
}  # fmt: skip


def cerebras_rate_limit_headers(remaining_requests: int, remaining_tokens: int) -> dict[str, str]:
    """The rate-limit headers Cerebras sends, with the given remaining budgets."""
    return {
        "x-ratelimit-limit-requests-day": "14400",
        "x-ratelimit-limit-tokens-minute": "60000",
        "x-ratelimit-remaining-requests-day": str(max(remaining_requests, 0)),
        "x-ratelimit-remaining-tokens-minute": str(max(remaining_tokens, 0)),
        "x-ratelimit-reset-requests-day": "33011.38",
        "x-ratelimit-reset-tokens-minute": "11.38",
    }
