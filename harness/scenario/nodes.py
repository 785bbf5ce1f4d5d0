"""Where the sender and recorder run: the provisioned lab, or plain loopback (``--lab none``)."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Nodes(Protocol):
    """What the engine needs of a lab (harness.lab.LabInfo has these)."""

    sender_ip: str
    recorder_ip: str
    mtu: int
    mount_points: list[str]

    @property
    def disk_glob(self) -> str: ...

    def sender_command(self, argv: list[str]) -> list[str]: ...

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

    def sender_command(self, argv: list[str]) -> list[str]:
        return argv

    def to_json(self) -> dict[str, Any]:
        return {"lab": "none (loopback)", "sender_ip": self.sender_ip, "recorder_ip": self.recorder_ip,
                "mtu": self.mtu, "mount_points": self.mount_points}

    def remove(self) -> None:
        for path in self.made:
            shutil.rmtree(path, ignore_errors=True)


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
