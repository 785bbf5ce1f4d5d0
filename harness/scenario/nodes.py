"""Where the sender and recorder run: the provisioned lab, or plain loopback (``--lab none``)."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.lab.info import SshTarget
from harness.lab.inventory import InventoryNode


class Nodes(Protocol):
    """What the engine needs of one recorder node and the sender node that feeds it (harness.lab.LabInfo, the
    loopback stand-in and an inventory lab's NodePair have these)."""

    sender_ip: str
    recorder_ip: str
    mtu: int
    mount_points: list[str]

    @property
    def disk_glob(self) -> str: ...

    @property
    def recorder_node(self) -> str: ...

    @property
    def recorder_ssh(self) -> SshTarget | None:
        """None: the recorder node is this machine (its recordings are read here)."""

    @property
    def recorder_python(self) -> str: ...

    @property
    def recorder_become(self) -> bool:
        """The recorder node's commands run through sudo."""

    @property
    def control_bind(self) -> str:
        """The address the recorder's control port listens on, reachable from this machine."""

    def sender_command(self, argv: list[str]) -> list[str]: ...

    def recorder_command(self, argv: list[str]) -> list[str]: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass
class LoopbackNodes:
    """Sender and recorder both on this host over loopback, recording into plain directories."""

    mount_points: list[str]
    sender_ip: str = "127.0.0.1"
    recorder_ip: str = "127.0.0.1"
    mtu: int = 65536
    made: list[str] = field(default_factory=list)

    @classmethod
    def in_directory(cls, root: Path, disks: int) -> LoopbackNodes:
        mounts = []
        made = []
        for n in range(disks):
            path = root / f"disk{n}"
            if not path.exists():
                path.mkdir(parents=True)
                made.append(str(path))
            mounts.append(str(path))
        return cls(mount_points=mounts, made=made)

    @property
    def disk_glob(self) -> str:
        return mount_glob(self.mount_points)

    recorder_node: str = "recorder"
    recorder_ssh: SshTarget | None = None
    recorder_python: str = sys.executable
    recorder_become: bool = False
    control_bind: str = "127.0.0.1"

    def sender_command(self, argv: list[str]) -> list[str]:
        return argv

    def recorder_command(self, argv: list[str]) -> list[str]:
        return argv

    def to_json(self) -> dict[str, Any]:
        return {"lab": "none (loopback)", "sender_ip": self.sender_ip, "recorder_ip": self.recorder_ip,
                "mtu": self.mtu, "mount_points": self.mount_points}

    def remove(self) -> None:
        for path in self.made:
            shutil.rmtree(path, ignore_errors=True)


def remote_argv(node: InventoryNode, argv: list[str]) -> list[str]:
    """``argv`` run on ``node`` over SSH from its harness venv, signals relayed, output and exit code back
    (harness.lab.remote)."""
    if argv and argv[0] == sys.executable:
        argv = [node.python, *argv[1:]]
    ssh = node.ssh
    return [sys.executable, "-m", "harness.lab.remote", "--host", ssh.host, "--user", ssh.user, "--port", str(ssh.port),
            "--identity", ssh.identity, "--known-hosts", ssh.known_hosts, "--cwd", "/", "--python", node.python,
            "--", *node.privileged(argv)]


@dataclass
class NodePair:
    """One recorder node of an inventory lab and the sender node that feeds it, as the engine sees them."""

    sender: InventoryNode
    recorder: InventoryNode
    mtu: int = 9000
    lab: str = ""

    def __post_init__(self) -> None:
        self.sender_ip = self.sender.data_address
        self.recorder_ip = self.recorder.data_address
        self.mount_points = list(self.recorder.mount_points)

    @property
    def disk_glob(self) -> str:
        return mount_glob(self.mount_points)

    @property
    def recorder_node(self) -> str:
        return self.recorder.name

    @property
    def recorder_ssh(self) -> SshTarget | None:
        return self.recorder.ssh

    @property
    def recorder_python(self) -> str:
        return self.recorder.python

    @property
    def recorder_become(self) -> bool:
        return self.recorder.become

    @property
    def control_bind(self) -> str:
        return self.recorder.ssh.host

    def sender_command(self, argv: list[str]) -> list[str]:
        return remote_argv(self.sender, argv)

    def recorder_command(self, argv: list[str]) -> list[str]:
        return remote_argv(self.recorder, argv)

    def to_json(self) -> dict[str, Any]:
        return {"lab": self.lab, "sender": self.sender.to_json(), "recorder": self.recorder.to_json(), "mtu": self.mtu}


def mount_glob(mount_points: list[str]) -> str:
    """One glob matching these mount points (same parent, common name prefix), as the checker takes."""
    parents = {str(Path(m).parent) for m in mount_points}
    if len(mount_points) == 1:
        return mount_points[0]
    if len(parents) != 1:
        raise ValueError(f"mount points {', '.join(mount_points)} must share one parent folder "
                         "(the checker gathers a scan's chunks with one glob)")
    prefix = os.path.commonprefix([Path(m).name for m in mount_points])  # noqa: RUF071 - a name prefix
    return f"{parents.pop()}/{prefix}*"


def local_environment(nodes: Nodes, recorder_version: str) -> dict[str, Any]:
    """The environment block when no lab verification ran: this host's facts."""
    disks = []
    for mount in nodes.mount_points:
        try:
            stat = os.statvfs(mount)
        except OSError:
            continue
        disks.append({"mount": mount, "fstype": _fstype(mount), "size_bytes": stat.f_blocks * stat.f_frsize,
                      "free_bytes": stat.f_bavail * stat.f_frsize})
    sysctls = {}
    for key in ("net.core.rmem_max", "net.core.wmem_max", "net.core.netdev_max_backlog", "net.ipv4.udp_mem"):
        with contextlib.suppress(OSError):
            sysctls[key] = Path("/proc/sys", *key.split(".")).read_text().strip()
    return {"lab": nodes.to_json(), "nodes": {"recorder": {
        "kernel": platform.release(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "interfaces": {"lo": nodes.mtu}, "disks": disks, "sysctls": sysctls, "recorder_version": recorder_version}}}


def _fstype(mount: str) -> str:
    best, fstype = "", "?"
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and mount.startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return fstype
