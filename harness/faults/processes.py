"""Faults of the processes: the recorder stopped (SIGSTOP: hung) or killed, the sender killed mid-scan."""

from __future__ import annotations

import time
from typing import Any

from harness.faults.injector import Injector
from harness.faults.site import FaultError


class _Signal(Injector):
    def _signal(self, on: str, pid: int | None, signal: str) -> None:
        if pid is None:
            raise FaultError(f"no {on} process to send SIG{signal} (it is not running)")
        run = self.site.on_recorder if on == "recorder" else self.site.on_sender
        run(["kill", f"-{signal}", str(pid)])


class RecorderStop(_Signal):
    """SIGSTOP for the duration, then SIGCONT: the recorder hangs and its socket fills."""

    mechanism = "SIGSTOP/SIGCONT to the recorder's process"

    def apply(self) -> None:
        self.pid = self.context.recorder_pid()
        if self.pid is not None:
            self.site.undo_on_recorder(self.key, ["kill", "-CONT", str(self.pid)])
        self._signal("recorder", self.pid, "STOP")
        self.stopped = time.monotonic()

    def remove(self) -> dict[str, Any]:
        if getattr(self, "stopped", None) is None:
            return {}
        self._signal("recorder", self.pid, "CONT")
        self.site.undo_on_recorder(self.key, None)
        return {"pid": self.pid, "stopped_s": round(time.monotonic() - self.stopped, 3)}


class _Kill(_Signal):
    """SIGKILL to one process: the recorder's, or vdif-send's on the sender node."""

    on = "recorder"

    def apply(self) -> None:
        self.pid = self.context.recorder_pid() if self.on == "recorder" else self.context.sender_pid()
        self._signal(self.on, self.pid, "KILL")

    def remove(self) -> dict[str, Any]:
        return {"pid": getattr(self, "pid", None), "killed": 1 if getattr(self, "pid", None) else 0}


class RecorderKill(_Kill):
    mechanism = "SIGKILL to the recorder's process"


class SenderKill(_Kill):
    mechanism = "SIGKILL to vdif-send on the sender node"
    on = "sender"
