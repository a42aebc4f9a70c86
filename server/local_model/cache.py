"""Where pulled models live, and how a cached file is known to be good.

Layout under the cache directory (``CEPO_CACHE_DIR``, else the user's cache
directory for ``cepo-proxy``)::

    models/<key>.gguf            the joined, verified model file
    models/<key>.gguf.verified   JSON marker: the sha256 and size that were verified
    models/<key>.gguf.partial    a pull in progress; never read, removed on failure

A file counts as pulled when its size matches the registry and its marker records the
registry's sha256. The full hash is computed once, when the file is pulled (or when a
file is found without its marker), not on every start: hashing a gigabyte on each
``serve`` would cost seconds for no protection against anything but a deliberate edit.
:func:`verify_file` does the full check on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import platformdirs

from server.local_model.registry import ModelSpec

CACHE_DIR_ENV = "CEPO_CACHE_DIR"
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$CEPO_CACHE_DIR`` if set, else the platform's user cache dir for ``cepo-proxy``."""
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("cepo-proxy"))


def models_dir(cache_dir: Path | None = None) -> Path:
    """The directory holding pulled model files (not created here)."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / "models"


def model_path(model: ModelSpec, cache_dir: Path | None = None) -> Path:
    """Where ``model`` is (or would be) cached; the file may not exist."""
    return models_dir(cache_dir) / model.file_name


def marker_path(file: Path) -> Path:
    """The verification marker that belongs to a cached model file."""
    return file.with_name(file.name + ".verified")


def partial_path(file: Path) -> Path:
    """The in-progress name of a cached model file."""
    return file.with_name(file.name + ".partial")


def is_pulled(model: ModelSpec, cache_dir: Path | None = None) -> bool:
    """True when the cached file has the registry's size and a marker with its sha256."""
    file = model_path(model, cache_dir)
    try:
        if file.stat().st_size != model.size:
            return False
        recorded = json.loads(marker_path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("sha256") == model.sha256
        and recorded.get("size") == model.size
    )


def write_marker(file: Path, sha256: str, size: int) -> None:
    """Record that ``file`` was verified to have ``sha256`` and ``size`` (atomically)."""
    marker = marker_path(file)
    temporary = marker.with_name(marker.name + ".tmp")
    temporary.write_text(json.dumps({"sha256": sha256, "size": size}) + "\n", encoding="utf-8")
    os.replace(temporary, marker)


def sha256_of(file: Path) -> str:
    """The hex sha256 of a file's whole content."""
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(model: ModelSpec, file: Path) -> bool:
    """Full check: ``file`` has exactly the registry's size and sha256."""
    try:
        if file.stat().st_size != model.size:
            return False
    except OSError:
        return False
    return sha256_of(file) == model.sha256
