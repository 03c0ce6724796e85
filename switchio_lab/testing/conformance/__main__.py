"""``python -m switchio_lab.testing.conformance``: run the conformance suite."""

import sys

from .cli import main

sys.exit(main())
