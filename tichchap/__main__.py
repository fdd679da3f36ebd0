"""``python -m tichchap ...`` runs the command line (see tichchap.cli)."""

import sys

from .cli import main

sys.exit(main())
