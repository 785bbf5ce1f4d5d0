"""``python -m harness.checker`` is ``vdif-check``."""

from harness.checker.cli import main

raise SystemExit(main())
