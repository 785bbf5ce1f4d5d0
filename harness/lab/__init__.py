"""The lab: Ansible provisioning through ansible-runner, the local lab (loop XFS, netns, veth), preflight checks.

    from harness.lab import lab_up, lab_down, lab_status, preflight
    info = lab_up(log=Path("reports/run/lab.log"))            # idempotent; reuses a lab that is up
    checks, environment = preflight(info, recorder_version="127.0.0.1:2620", free_bytes_needed=10 << 30)
    lab_down()
"""

from harness.lab.errors import CommandFailed, LabError, PlaybookFailed
from harness.lab.info import LabInfo, SshTarget
from harness.lab.local import lab_down, lab_status, lab_up
from harness.lab.netns import provision_lab
from harness.lab.preflight import PreflightCheck, blocking_failures, preflight
from harness.lab.runner import PlaybookRun, run_playbook
from harness.lab.state import LabStatus

__all__ = [
    "CommandFailed",
    "LabError",
    "LabInfo",
    "LabStatus",
    "PlaybookFailed",
    "PlaybookRun",
    "PreflightCheck",
    "SshTarget",
    "blocking_failures",
    "lab_down",
    "lab_status",
    "lab_up",
    "preflight",
    "provision_lab",
    "run_playbook",
]
