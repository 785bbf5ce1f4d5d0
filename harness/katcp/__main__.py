import sys

from harness.katcp.proxy_cli import main

sys.exit(main())
