"""Turn ``CEPO_LOCAL_MODEL`` (a registry key or a ``.gguf`` path) into a file to serve.

Serving never downloads: a key whose file is not cached is an error naming the
command that pulls it.
"""

from __future__ import annotations

from pathlib import Path

from server.local_model.cache import is_pulled, model_path
from server.local_model.errors import ModelNotPulled, UnknownModel
from server.local_model.registry import MODELS


def resolve_model_path(spec: str, cache_dir: Path | None = None) -> Path:
    """The model file that ``spec`` names.

    A registry key gives its cached file when pulled and verified, else raises
    :class:`ModelNotPulled` whose message is the exact pull command. A path to an
    existing ``.gguf`` file gives that path, resolved. Anything else raises
    :class:`UnknownModel` listing the known keys.
    """
    model = MODELS.get(spec)
    if model is not None:
        if is_pulled(model, cache_dir):
            return model_path(model, cache_dir)
        raise ModelNotPulled(
            f"model {spec} is not downloaded yet (serve never downloads). "
            f"Run: cepo-proxy models pull {spec}"
        )
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if path.is_file():
            return path.resolve()
        raise UnknownModel(f"local model file not found: {path}")
    raise UnknownModel(
        f"local model {spec!r} is neither a known model key ({', '.join(MODELS)}) "
        "nor a path to a .gguf file"
    )


def model_alias(spec: str) -> str:
    """The name the local server publishes: the key, or the file name without ``.gguf``."""
    if spec in MODELS:
        return spec
    return Path(spec).name.removesuffix(".gguf").removesuffix(".GGUF")
