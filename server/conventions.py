"""What a ``cepo-*`` request asks of the proxy, from the body, the headers and the settings.

One function, :func:`reasoning_options`, reads every convention clients use to say how
much to reason and how to show it, and answers one :class:`ReasoningOptions`:

* effort: ``reasoning_effort`` (any case; ``xhigh`` is ``high``) or OpenRouter's
  ``reasoning: {"effort", "exclude", "max_tokens", "enabled"}``; ``reasoning_effort``
  wins when both are given. ``none`` / ``minimal`` (or ``enabled: false``) bypass CePO.
  ``reasoning.max_tokens`` is refused with a 400: no cap on reasoning tokens is enforced.
* what the reasoning field carries and where it goes: ``"cepo": {"reasoning_mode",
  "reasoning_format"}`` in the body, else the ``X-Reasoning-Mode`` / ``X-Reasoning-Format``
  headers, else the settings. The body wins because gateways drop custom headers.
* the tools policy: ``"cepo": {"tools": "reason" | "passthrough"}``, else the setting.

The server's keys are taken out of the ``cepo`` object here, so what remains is only the
engine's overrides (validated by :class:`reasoning.config.CePOConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from server.errors import ProxyError

Mode = Literal["verbose", "quiet"]
ReasoningFormat = Literal["reasoning_content", "reasoning", "think"]
ToolsPolicy = Literal["reason", "passthrough"]

MODE_HEADER = "x-reasoning-mode"
FORMAT_HEADER = "x-reasoning-format"
#: Keys of the body's ``cepo`` object that the server reads (the rest go to the engine).
SERVER_KEYS = ("reasoning_mode", "reasoning_format", "tools")
PRESETS = ("low", "medium", "high")
BYPASS_EFFORTS = ("none", "minimal")
#: Effort names other clients send, mapped to ours.
EFFORT_ALIASES = {"xhigh": "high"}

_MODES: tuple[Mode, ...] = ("verbose", "quiet")
_FORMATS: tuple[ReasoningFormat, ...] = ("reasoning_content", "reasoning", "think")
_POLICIES: tuple[ToolsPolicy, ...] = ("reason", "passthrough")
T = TypeVar("T", bound=str)


@dataclass(frozen=True, slots=True)
class ReasoningOptions:
    """How one ``cepo-*`` request is to be served.

    ``effort`` is a preset name, a bypass effort (``none`` / ``minimal``) or ``None`` (the
    default preset). ``exclude``: no reasoning at all in the response. ``overrides``: the
    ``cepo`` object without :data:`SERVER_KEYS`.
    """

    effort: str | None
    mode: Mode
    reasoning_format: ReasoningFormat
    exclude: bool
    tools_policy: ToolsPolicy
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def bypass(self) -> bool:
        return self.effort in BYPASS_EFFORTS


def reasoning_options(
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    default_mode: str,
    default_tools_policy: str,
) -> ReasoningOptions:
    """Read the request's options. Raises :class:`ProxyError` (400) naming the bad field."""
    cepo = body.get("cepo")
    overrides = dict(cepo) if isinstance(cepo, dict) else {}
    body_mode = overrides.pop("reasoning_mode", None)
    body_format = overrides.pop("reasoning_format", None)
    body_policy = overrides.pop("tools", None)
    mode = _choice(
        body_mode, "cepo.reasoning_mode", headers.get(MODE_HEADER), "X-Reasoning-Mode", _MODES
    )
    reasoning_format = _choice(
        body_format,
        "cepo.reasoning_format",
        headers.get(FORMAT_HEADER),
        "X-Reasoning-Format",
        _FORMATS,
    )
    policy = _choice(body_policy, "cepo.tools", None, "", _POLICIES)
    effort, exclude = _effort(body)
    return ReasoningOptions(
        effort=effort,
        mode=mode or _checked(default_mode, _MODES, "reasoning_mode"),
        reasoning_format=reasoning_format or "reasoning_content",
        exclude=exclude,
        tools_policy=policy or _checked(default_tools_policy, _POLICIES, "tools_policy"),
        overrides=overrides,
    )


def _choice(
    body_value: Any, body_param: str, header_value: str | None, header: str, allowed: tuple[T, ...]
) -> T | None:
    """The body's value if given, else the header's; ``None`` when neither is set."""
    if body_value is not None:
        text = body_value.strip().lower() if isinstance(body_value, str) else None
        for option in allowed:
            if text == option:
                return option
        raise ProxyError(
            400,
            f"{body_param} must be one of {', '.join(allowed)}; got {body_value!r}",
            param=body_param,
            code="invalid_value",
        )
    if header_value is None or not header_value.strip():
        return None
    text = header_value.strip().lower()
    for option in allowed:
        if text == option:
            return option
    raise ProxyError(
        400,
        f"header {header} must be one of {', '.join(allowed)}",
        param=header,
        code="invalid_header",
    )


def _checked(value: str, allowed: tuple[T, ...], name: str) -> T:
    for option in allowed:
        if value == option:
            return option
    raise ValueError(f"setting {name} has an unknown value {value!r}")  # validated at start-up


def _effort(body: Mapping[str, Any]) -> tuple[str | None, bool]:
    """``(effort, exclude)`` from ``reasoning_effort`` and the ``reasoning`` object."""
    reasoning = body.get("reasoning")
    exclude = False
    from_object: str | None = None
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise ProxyError(
                400,
                'reasoning must be an object such as {"effort": "low"}',
                param="reasoning",
                code="invalid_type",
            )
        if reasoning.get("max_tokens") is not None:
            raise ProxyError(
                400,
                "reasoning.max_tokens is not supported for CePO models: a run's reasoning is "
                "not capped by a token count; choose reasoning.effort (low, medium, high) or "
                "set per-step limits in the cepo object",
                param="reasoning.max_tokens",
                code="unsupported",
            )
        value = reasoning.get("exclude")
        if value is not None and not isinstance(value, bool):
            raise ProxyError(
                400, "reasoning.exclude must be true or false", param="reasoning.exclude"
            )
        exclude = bool(value)
        enabled = reasoning.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise ProxyError(
                400, "reasoning.enabled must be true or false", param="reasoning.enabled"
            )
        from_object = _effort_name(reasoning.get("effort"), "reasoning.effort")
        if enabled is False:
            from_object = "none"
    direct = _effort_name(body.get("reasoning_effort"), "reasoning_effort")
    return (direct if direct is not None else from_object), exclude


def _effort_name(value: Any, param: str) -> str | None:
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else None
    if text is not None:
        text = EFFORT_ALIASES.get(text, text)
        if text in PRESETS or text in BYPASS_EFFORTS:
            return text
    raise ProxyError(
        400,
        f"{param} must be one of low, medium, high, xhigh, none, minimal; got {value!r}",
        param=param,
        code="invalid_value",
    )


def tool_call_required(tool_choice: Any) -> bool:
    """Whether ``tool_choice`` demands a tool call (``"required"``, Mistral's ``"any"``, or a
    named function), which CePO cannot reason about: such requests are passed through."""
    if isinstance(tool_choice, str):
        return tool_choice.strip().lower() in ("required", "any")
    return isinstance(tool_choice, dict)
