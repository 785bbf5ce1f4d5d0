"""The harness's command lines share one parser: a bad command line is one line on stderr and exit code 2.

argparse prints its usage before the error; on a lab machine driven by scripts, the line that says what is wrong
must be the only one (``--help`` still shows the usage).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are ``prog: what is wrong``, alone, exit code 2 (subcommands
    inherit it)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
