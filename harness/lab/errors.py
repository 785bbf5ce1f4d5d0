"""The local lab's errors: each carries what it is about (host, task, command, resource)."""

from __future__ import annotations

from collections.abc import Sequence


class LabError(RuntimeError):
    """The lab could not be brought up, checked or taken down; the message says what and where."""


class CommandFailed(LabError):
    """An external program (ip, mount, ssh...) failed or timed out."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str, *, timeout: float | None = None):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        self.timeout = timeout
        if returncode is None:
            what = f"timed out after {timeout:g} s" if timeout is not None else "could not be started"
        else:
            what = f"exited with {returncode}"
        tail = output.strip().splitlines()[-1] if output.strip() else "no output"
        super().__init__(f"{' '.join(self.argv)} {what}: {tail}")


class PlaybookFailed(LabError):
    """An Ansible task failed: one clear line naming the host, the task and Ansible's message."""

    def __init__(self, host: str, task: str, message: str, *, playbook: str, log: str | None = None):
        self.host = host
        self.task = task
        self.message = message
        self.playbook = playbook
        self.log = log
        where = f" (run log: {log})" if log else ""
        super().__init__(f"{playbook}: task '{task}' failed on {host}: {message}{where}")
