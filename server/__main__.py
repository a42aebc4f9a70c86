"""``python -m server`` runs the ``cepo-proxy`` command."""

import sys

from server.cli import main

sys.exit(main())
