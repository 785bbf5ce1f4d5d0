"""What a lab that is up looks like to the scenario engine: addresses, MTU, disks, how to reach the sender node."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SshTarget:
    """How the harness logs in to a node: the same options Ansible uses for it."""

    host: str
    user: str
    identity: str
    known_hosts: str
    port: int = 22

    def ssh_argv(self, *, batch: bool = True) -> list[str]:
        """`ssh` with this node's key and pinned host key, up to (not including) the remote command."""
        identity = ["-i", self.identity, "-o", "IdentitiesOnly=yes"] if self.identity else []
        argv = ["ssh", "-T", *identity, "-p", str(self.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", "ControlMaster=no"]
        if batch:
            argv += ["-o", "BatchMode=yes"]
        return [*argv, f"{self.user}@{self.host}"]


@dataclass
class LabInfo:
    """A lab that is up (or its loopback stand-in when not root).

    The scenario engine binds the recorder to `recorder_ip`, sends to it from the sender node with
    `sender_command(...)`, and points the recorder at `mount_points` (or the glob `disk_glob`).
    """

    root: bool
    degraded: bool
    sender_ip: str
    recorder_ip: str
    mtu: int
    mount_points: list[str]
    disk_glob: str
    sender_netns: str | None = None
    recorder_interface: str = "lo"
    sender_interface: str = "lo"
    sender_ssh: SshTarget | None = None
    sender_python: str = field(default_factory=lambda: sys.executable)
    lab: str = "local"
    images: list[str] = field(default_factory=list)
    state_file: str | None = None
    sysctl_profile: str = "flexbuff"
    changed: list[str] = field(default_factory=list)

    def sender_command(self, argv: list[str], *, cwd: str | None = None, via: str = "ssh") -> list[str]:
        """The argv that runs `argv` on the sender node.

        via="ssh" (default): through the sender node's sshd, wrapped so that SIGTERM/SIGINT sent to the
        returned process reach the remote command and its exit code and output come back (see
        harness.lab.remote). via="netns": `ip netns exec` (no SSH). A degraded lab runs argv as it is.
        """
        if self.degraded or self.sender_netns is None:
            return list(argv)
        if via == "netns":
            return ["ip", "netns", "exec", self.sender_netns, *argv]
        if via != "ssh" or self.sender_ssh is None:
            raise ValueError(f"cannot reach the sender node via {via!r}")
        ssh = self.sender_ssh
        return [sys.executable, "-m", "harness.lab.remote", "--host", ssh.host, "--user", ssh.user,
                "--port", str(ssh.port), "--identity", ssh.identity, "--known-hosts", ssh.known_hosts,
                "--cwd", cwd or os.getcwd(), "--python", self.sender_python, "--", *argv]

    recorder_node = "recorder"
    recorder_ssh: SshTarget | None = None
    """The local lab's recorder node is this machine."""

    @property
    def recorder_python(self) -> str:
        return sys.executable

    @property
    def control_bind(self) -> str:
        return "127.0.0.1"

    @property
    def recorder_become(self) -> bool:
        return False

    def recorder_command(self, argv: list[str]) -> list[str]:
        return list(argv)

    def sender_shell(self, argv: list[str]) -> str:
        """The sender command as one shell line, for logs and for people."""
        return shlex.join(self.sender_command(argv))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabInfo:
        values = dict(data)
        ssh = values.pop("sender_ssh", None)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known},
                   sender_ssh=SshTarget(**ssh) if ssh else None)
