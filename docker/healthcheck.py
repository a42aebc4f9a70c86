"""Container health probe: exit 0 when the proxy's ``GET /health`` answers 2xx, else 1.

The image has no curl, so Docker's HEALTHCHECK runs this with the venv's Python.
It asks the port in ``CEPO_PORT`` (default 8000) on the loopback interface, which
the proxy serves whether it binds 0.0.0.0 or 127.0.0.1. Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("CEPO_PORT", "8000")
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            healthy = 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
