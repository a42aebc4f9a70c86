"""Installed size of a distribution and everything it requires, in the running interpreter.

Run by any Python (standard library only, so it also runs inside optillm's environment)::

    python bench/perf/sizes.py cepo-proxy   ->  {"root": ..., "distributions": N, "bytes": B}

Requirements are followed recursively, without extras, with environment markers evaluated
(packaging, or pip's vendored copy); a requirement that is not installed is skipped. Sizes
are the files each distribution's RECORD lists.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    from packaging.markers import Marker
except ImportError:  # pragma: no cover - environments without packaging
    from pip._vendor.packaging.markers import Marker  # type: ignore[assignment]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(requirement: str) -> str | None:
    """The name of a requirement that applies here (no extra, markers true), else None."""
    text, _, marker = requirement.partition(";")
    if marker.strip():
        try:
            if not Marker(marker.strip()).evaluate({"extra": ""}):
                return None
        except Exception:
            return None
    match = _NAME.match(text)
    return _normal(match.group(1)) if match else None


def closure(root: str) -> dict[str, Any]:
    """Size of ``root`` and its installed runtime requirements."""
    seen: set[str] = set()
    pending = [_normal(root)]
    total = 0
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for file in dist.files or []:
            with contextlib.suppress(OSError):
                total += Path(str(dist.locate_file(file))).stat().st_size
        for requirement in dist.requires or []:
            wanted = _wanted(requirement)
            if wanted and wanted not in seen:
                pending.append(wanted)
    return {"root": root, "distributions": len(seen), "bytes": total}


if __name__ == "__main__":
    print(json.dumps(closure(sys.argv[1] if len(sys.argv) > 1 else "cepo-proxy")))
