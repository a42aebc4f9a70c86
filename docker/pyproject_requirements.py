"""Print the dependencies declared in a pyproject.toml, one requirement per line.

Used by the Dockerfile to install the dependencies in a layer of their own, before
the source is copied, so that a code change does not reinstall them.

Usage: python3 pyproject_requirements.py PYPROJECT [EXTRA ...]

Prints ``project.dependencies`` followed by the requirements of each named extra
(``project.optional-dependencies``). An unknown extra is an error (exit status 2),
never silently empty. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    """Return the base dependencies plus those of ``extras``, in declaration order."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise ValueError("pyproject.toml has no [project] table")
    lines = [str(item) for item in project.get("dependencies", [])]
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"unknown extra {extra!r}; known: {', '.join(sorted(optional))}")
        lines.extend(str(item) for item in optional[extra])
    return lines


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = tomllib.loads(Path(argv[1]).read_text(encoding="utf-8"))
    extras = [name for arg in argv[2:] for name in arg.split(",") if name]
    try:
        lines = requirements(data, extras)
    except ValueError as error:
        print(f"pyproject_requirements: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
