"""Where a scan's faults act: the recorder node and its data interface, the sender node and its data interface,
the recorder's mount points, and how to run a command on each node."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.lab.info import LabInfo
from harness.scenario.nodes import LoopbackNodes, NodePair, Nodes


class FaultError(RuntimeError):
    """A fault could not be applied or removed on the lab: said with the command and its answer."""


@dataclass
class FaultSite:
    """One recorder node and the sender node feeding it, as the fault mechanisms reach them."""

    nodes: Nodes
    recorder_interface: str
    sender_interface: str
    sender_netns: str | None = None
    """The local lab's sender node is a namespace of this machine: its commands run in it directly."""
    log: Path | None = None
    keep_undo: Callable[[str, list[str] | None], None] | None = None
    """Told each fault's undo command while it is in force (and None once removed): the run lock keeps them, so
    that the run after a killed one removes what this one left applied."""

    @classmethod
    def of(cls, nodes: Nodes, log: Path | None = None) -> FaultSite:
        if isinstance(nodes, LabInfo):
            return cls(nodes, nodes.recorder_interface, nodes.sender_interface,
                       None if nodes.degraded else nodes.sender_netns, log)
        if isinstance(nodes, NodePair):
            return cls(nodes, nodes.recorder.data_interface, nodes.sender.data_interface, None, log)
        if isinstance(nodes, LoopbackNodes):
            return cls(nodes, "lo", "lo", None, log)
        raise TypeError(f"no fault site for {type(nodes).__name__}")

    @property
    def sender_shares_files(self) -> bool:
        """The sender node sees this machine's files (a namespace of it, or loopback)."""
        return self.sender_netns is not None or isinstance(self.nodes, LoopbackNodes) or \
            (isinstance(self.nodes, LabInfo) and self.nodes.degraded)

    @property
    def local_recorder(self) -> bool:
        return self.nodes.recorder_ssh is None

    def on_recorder(self, argv: list[str], *, check: bool = True, timeout: float = 30.0) -> str:
        return self._run(self.nodes.recorder_command(argv), check=check, timeout=timeout)

    def on_sender(self, argv: list[str], *, check: bool = True, timeout: float = 30.0) -> str:
        if self.sender_netns is not None:
            return self._run(["ip", "netns", "exec", self.sender_netns, *argv], check=check, timeout=timeout)
        return self._run(self.nodes.sender_command(argv), check=check, timeout=timeout)

    def undo_on_recorder(self, key: str, argv: list[str] | None) -> None:
        """``argv`` (on the recorder node) undoes fault ``key``; None: nothing left to undo."""
        if self.keep_undo is not None:
            full = None if argv is None else self.nodes.recorder_command(argv)
            self.keep_undo(f"{self.nodes.recorder_node}:{key}", full)

    def undo_on_sender(self, key: str, argv: list[str] | None) -> None:
        if self.keep_undo is not None:
            full = None if argv is None else ["ip", "netns", "exec", self.sender_netns, *argv] \
                if self.sender_netns is not None else self.nodes.sender_command(argv)
            self.keep_undo(f"{self.nodes.recorder_node}:{key}", full)

    def _run(self, argv: list[str], *, check: bool, timeout: float) -> str:
        shown = " ".join(argv)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FaultError(f"{shown}: no answer in {timeout:g} s") from None
        except OSError as exc:
            raise FaultError(f"{shown}: {exc.strerror}") from None
        if self.log is not None:
            with self.log.open("a") as fh:
                fh.write(f"$ {shown}\n{done.stdout}{done.stderr}[exit {done.returncode}]\n")
        if check and done.returncode != 0:
            answer = " ".join(line.strip() for line in (done.stderr or done.stdout).strip().splitlines()
                              if "dmesg(1) may have more" not in line)
            raise FaultError(f"{shown}: {answer or f'exit {done.returncode}'}")
        return done.stdout

