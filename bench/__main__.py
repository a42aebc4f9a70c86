"""``python -m bench``: the performance benchmark (scenarios, goals, RESULTS.md, chart).

See :mod:`bench.perf` and ``python -m bench --help``. The accuracy benchmark is
``python -m bench.accuracy``.
"""

from __future__ import annotations

import sys

from bench.perf.cli import main

sys.exit(main())
