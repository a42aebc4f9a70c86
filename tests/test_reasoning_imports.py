"""The engine package stays free of HTTP: importing it loads no web library."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import reasoning

FORBIDDEN = ("fastapi", "starlette", "httpx", "sse_starlette")


def test_importing_reasoning_loads_no_http_library() -> None:
    modules = sorted(f"reasoning.{info.name}" for info in pkgutil.iter_modules(reasoning.__path__))
    assert "reasoning.engine" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {['reasoning', *modules]!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(loaded))\n"
    )
    root = Path(reasoning.__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""
