"""``python -m imface_core`` runs the ``imface`` command line."""

import sys

from imface_core.cli import main

sys.exit(main())
