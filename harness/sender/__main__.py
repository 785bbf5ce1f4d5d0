import sys

from harness.sender.cli import main

sys.exit(main())
