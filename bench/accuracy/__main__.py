"""``python -m bench.accuracy``: see :mod:`bench.accuracy.cli`."""

from __future__ import annotations

import sys

from bench.accuracy.cli import main

sys.exit(main())
