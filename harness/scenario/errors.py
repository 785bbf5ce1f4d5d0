"""Which failures are findings and which are bugs (shared/STYLE.md habit 6).

A fault of the system under test or of the lab it runs on (a recorder that refuses, dies or lies, a lab
command that fails, a sender that cannot start, a recording the checker cannot read, an operating-system
error on a socket, a file or a process) is a finding on the scan or the preflight. Anything else is a bug of
the harness and propagates as a traceback, with the scan named.
"""

from __future__ import annotations

import subprocess

from harness.checker.errors import CheckerError
from harness.lab.errors import LabError
from harness.recorder.errors import RecorderError
from harness.scenario.sender_process import SenderFailed

SYSTEM_FAULTS: tuple[type[Exception], ...] = (
    RecorderError, LabError, SenderFailed, CheckerError, OSError, subprocess.SubprocessError,
)
"""What the harness catches and reports; nothing else."""
