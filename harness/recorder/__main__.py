"""``python -m harness.recorder`` runs the reference recorder, like ``vdif-record``."""

import sys

from harness.recorder.cli import main

sys.exit(main())
