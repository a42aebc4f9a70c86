"""The proxy's settings: one class, read from ``CEPO_*`` variables and an optional YAML file.

Precedence, highest first: explicit arguments (the CLI's ``--host`` / ``--port``),
environment variables, the ``.env`` file, the YAML file (``--config`` or
``CEPO_CONFIG_FILE``), then the defaults below. Values that depend on the upstream
kind (read timeout, concurrency) are the properties :attr:`Settings.read_timeout` and
:attr:`Settings.max_concurrency`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from config.upstream_kinds import KINDS, UpstreamKind, UpstreamKindName, guess_kind

ENV_PREFIX = "CEPO_"
ReasoningMode = Literal["verbose", "quiet"]


class SettingsError(Exception):
    """Settings could not be loaded; ``str(error)`` is one line per bad variable."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the proxy. Field ``x`` is read from ``CEPO_X``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # -- upstream -------------------------------------------------------------------
    upstream_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. https://api.cerebras.ai/v1"
    )
    upstream_api_key: SecretStr | None = Field(None, description="Key sent to the upstream")
    upstream_kind: UpstreamKindName | None = Field(
        None, description="openai|cerebras|vllm|ollama|llamacpp|local; guessed from the URL"
    )
    upstream_connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect")
    upstream_read_timeout: float | None = Field(
        None, gt=0, description="Seconds to first byte and between chunks (default per kind)"
    )
    upstream_max_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Upstream calls in flight at once (default per kind)"
    )
    upstream_max_retries: int = Field(2, ge=0, le=10, description="Retries on 429/5xx/connect")
    upstream_context_length: int | None = Field(
        None, ge=512, description="Context length when the upstream does not state it"
    )
    request_timeout: float = Field(600.0, gt=0, description="Deadline of a whole request (s)")

    # -- serving ----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    model_prefix: str = Field("cepo-", min_length=1)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    reasoning_mode: ReasoningMode = "verbose"
    default_preset: Literal["low", "medium", "high", "thinking", "planned"] = "medium"
    tools_policy: Literal["reason", "passthrough"] = Field(
        "reason",
        description="cepo- requests with tools: reason (CePO, tools offered to the final step) "
        "or passthrough (sent to the upstream model as they came)",
    )
    bypass_ui_tasks: bool = Field(
        True,
        description="Answer UI background tasks (titles, tags, follow-ups...) with one plain call",
    )

    # -- embedded local model ---------------------------------------------------------
    local_model: str = Field("smollm2-135m", description="Model key or path to a .gguf file")
    local_n_ctx: int = Field(8192, ge=512)
    local_threads: int | None = Field(None, ge=1)
    local_start_timeout: float = Field(120.0, gt=0)

    # -- observability ----------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    log_content: bool = False

    # -- access control and limits ----------------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    metrics_require_key: bool = False
    forward_client_key: bool = False
    allow_unauthenticated: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_concurrent_reasoning: int = Field(64, ge=1)
    reasoning_queue_timeout: float = Field(2.0, ge=0)

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("upstream_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.forward_client_key and self.api_keys:
            raise ValueError(
                "CEPO_FORWARD_CLIENT_KEY and CEPO_API_KEYS both read the Authorization header; "
                "set only one"
            )
        if (
            not _is_loopback(self.host)
            and self.upstream_api_key is not None
            and not self.api_keys
            and not self.allow_unauthenticated
        ):
            raise ValueError(
                f"binding {self.host} with an upstream key and no CEPO_API_KEYS would let anyone "
                "spend that key; set CEPO_API_KEYS or CEPO_ALLOW_UNAUTHENTICATED=true"
            )
        return self

    # -- resolved values --------------------------------------------------------------
    @property
    def kind(self) -> UpstreamKind:
        """The upstream kind: configured, else guessed from the URL."""
        return KINDS[self.upstream_kind or guess_kind(self.upstream_base_url)]

    @property
    def read_timeout(self) -> float:
        return self.upstream_read_timeout or self.kind.default_read_timeout

    @property
    def max_concurrency(self) -> int:
        return self.upstream_max_concurrency or self.kind.default_max_concurrency


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from arguments, environment, ``.env`` and an optional YAML file.

    Raises :class:`SettingsError` whose message names each bad variable in one line.
    """
    path = config_file or os.environ.get(f"{ENV_PREFIX}CONFIG_FILE") or None
    if path is not None and not Path(path).is_file():
        raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: no such file: {path}")

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [
                init_settings,
                env_settings,
                dotenv_settings,
            ]
            if path is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
            return tuple(sources)

    try:
        return _Loaded(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except (OSError, ValueError) as error:  # unreadable or malformed YAML
        raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: {error}") from None


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "\n".join(lines)
