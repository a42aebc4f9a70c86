"""The embedded local upstream: pullable GGUF models and a managed llama.cpp server.

Public API::

    pull_model(key, *, cache_dir=None, progress=print) -> Path
    resolve_model_path(spec, cache_dir=None) -> Path
    ManagedLlamaServer(model_path, alias=..., n_ctx=..., ...)   # async context manager
    ManagedLlamaServer.from_settings(settings)
    models_command(argv) -> int                                  # `cepo-proxy models ...`

This package may use httpx (it is part of ``server``); ``reasoning`` never imports it.
"""

from __future__ import annotations

from server.local_model.cli import models_command
from server.local_model.errors import (
    LlamaNotInstalled,
    LocalModelError,
    LocalServerError,
    ModelChecksumError,
    ModelDownloadError,
    ModelNotPulled,
    UnknownModel,
)
from server.local_model.managed import ManagedLlamaServer, effective_n_ctx
from server.local_model.pull import pull_model
from server.local_model.registry import DEFAULT_MODEL_KEY, MODELS, ModelPart, ModelSpec
from server.local_model.resolve import model_alias, resolve_model_path

__all__ = [
    "DEFAULT_MODEL_KEY",
    "MODELS",
    "LlamaNotInstalled",
    "LocalModelError",
    "LocalServerError",
    "ManagedLlamaServer",
    "ModelChecksumError",
    "ModelDownloadError",
    "ModelNotPulled",
    "ModelPart",
    "ModelSpec",
    "UnknownModel",
    "effective_n_ctx",
    "model_alias",
    "models_command",
    "pull_model",
    "resolve_model_path",
]
