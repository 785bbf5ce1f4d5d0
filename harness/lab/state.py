"""The local lab's state file (written by the local_lab role, or by the degraded lab) and what is really there.

The state file names everything the lab is made of; `down` removes exactly that, and `status` compares it
with the kernel's view (/proc/self/mountinfo, /sys/block/loop*, /run/netns, /sys/class/net). It lives only
where this user alone can write (harness/lab/trust.py): root's in /var/lib/vlbi-lab, 0700.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.errors import LabError
from harness.lab.info import LabInfo, SshTarget
from harness.lab.trust import private_dir, read_private

DEFAULT_WORK_DIR = Path("/var/lib/vlbi-lab")
"""Root's lab: state, disk images and the sender node's keys (the images are sparse, so not under /run)."""


MULTINODE_WORK_DIR = Path("/var/lib/vlbi-lab-multinode")
"""inventory/multinode.yml's lab (netns_lab_work_dir there)."""


def degraded_work_dir() -> Path:
    """Where a lab without root keeps its plain-directory disks and state (per user, 0700, owner checked)."""
    return Path(tempfile.gettempdir()) / f"vlbi-lab-{os.getuid()}"


def default_work_dir(root: bool) -> Path:
    return DEFAULT_WORK_DIR if root else degraded_work_dir()


def state_path(work_dir: Path) -> Path:
    return work_dir / "state.json"


def read_state(work_dir: Path) -> dict[str, Any] | None:
    """The lab's state, or None if there is none; refused (LabError naming the path) unless this user alone
    could have written it and its directory."""
    if not private_dir(work_dir, create=False):
        return None
    path = state_path(work_dir)
    text = read_private(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"{path}: not a lab state file ({exc}); remove it if no lab is up") from exc
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise LabError(f"{path}: unknown lab state file format")
    return data


def write_state(work_dir: Path, state: dict[str, Any]) -> None:
    private_dir(work_dir, create=True)
    path = state_path(work_dir)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def mount_points(state: dict[str, Any]) -> list[str]:
    return [str(d["mount"]) for d in state.get("disks", [])]


def info_from_state(state: dict[str, Any], *, changed: list[str] | None = None) -> LabInfo:
    """The LabInfo the engine sees, from a state file."""
    root_dir = str(state["mount_root"]).rstrip("/")
    if state.get("lab") == "degraded":
        return LabInfo(root=False, degraded=True, sender_ip="127.0.0.1", recorder_ip="127.0.0.1",
                       mtu=interface_mtu("lo") or 65536, mount_points=mount_points(state),
                       disk_glob=f"{root_dir}/disk*", lab="degraded", state_file=state.get("state_file"),
                       changed=list(changed or []))
    ssh = state["ssh"]
    return LabInfo(
        root=True, degraded=False, sender_ip=state["sender_ip"], recorder_ip=state["recorder_ip"],
        mtu=int(state["mtu"]), mount_points=mount_points(state), disk_glob=f"{root_dir}/disk*",
        sender_netns=state["netns"], recorder_interface=state["veth_recorder"], sender_interface=state["veth_sender"],
        sender_ssh=SshTarget(host=state["sender_ip"], user=ssh["user"], identity=ssh["identity"],
                             known_hosts=ssh["known_hosts"], port=int(ssh["port"])),
        lab="local", images=[str(d["device"]) for d in state.get("disks", [])],
        state_file=str(state_path(Path(state["work_dir"]))),
        sysctl_profile=str(state.get("sysctl_profile", "flexbuff")), changed=list(changed or []))


# --- the kernel's view -------------------------------------------------------------------------------

def mounted_filesystems() -> dict[str, tuple[str, str, str]]:
    """Mount point -> (fstype, source, options) from /proc/self/mountinfo (the last mount on a point wins)."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 6 or len(rest) < 2:
            continue
        target = fields[4].replace("\\040", " ")
        found[target] = (rest[0], rest[1], fields[5] + ("," + rest[2] if len(rest) > 2 else ""))
    return found


def loop_devices_for(image: str) -> list[str]:
    """Loop devices backed by this image file (from /sys/block/loop*/loop/backing_file)."""
    devices = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().strip() in (image, f"{image} (deleted)"):
                devices.append(f"/dev/{backing.parent.parent.name}")
        except OSError:
            continue
    return sorted(devices)


def interface_mtu(name: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{name}/mtu").read_text())
    except (OSError, ValueError):
        return None


def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def pid_from_file(path: str | Path, *, comm: str) -> int | None:
    """The pid in a pidfile if that process is alive and is `comm`."""
    try:
        pid = int(Path(path).read_text().split()[0])
        if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
            return pid
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class LabStatus:
    """What the state file says the lab is made of, and which of those things are really there."""

    state: str                      # up | down | partial | degraded
    work_dir: str
    present: dict[str, bool] = field(default_factory=dict)
    info: LabInfo | None = None
    lab: str = "local"

    @property
    def up(self) -> bool:
        """A lab the engine can use: the local lab with every part present, or the degraded stand-in."""
        return self.state in ("up", "degraded")

    @property
    def missing(self) -> list[str]:
        return [name for name, ok in self.present.items() if not ok]

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "lab": self.lab, "work_dir": self.work_dir, "present": dict(self.present),
                "info": self.info.to_json() if self.info else None}

    def summary(self) -> str:
        if self.state == "down":
            return "lab is down"
        if self.state == "degraded":
            return f"degraded lab (no root): loopback, plain directories {', '.join(self.present)}"
        if self.state == "up":
            return f"{'namespace ' if self.lab == 'netns' else ''}lab is up: {len(self.present)} parts present"
        return f"lab is partly up; missing: {', '.join(self.missing)}"


def probe(state: dict[str, Any], work_dir: Path) -> LabStatus:
    """Compare the state file with the kernel's view."""
    present: dict[str, bool] = {}
    if state.get("lab") == "netns":
        from harness.lab.netns import probe as netns_probe

        present = netns_probe(state)
        kind = "up" if all(present.values()) else ("down" if not any(present.values()) else "partial")
        return LabStatus(kind, str(work_dir), present, None, lab="netns")
    if state.get("lab") == "degraded":
        present = {m: private_dir(Path(m), create=False) for m in mount_points(state)}  # this user's, or refused
        return LabStatus("degraded", str(work_dir), present, info_from_state(state))
    mounts = mounted_filesystems()
    for disk in state.get("disks", []):
        present[f"image {disk['device']}"] = Path(disk["device"]).exists()
        present[f"loop device for {disk['device']}"] = bool(loop_devices_for(str(disk["device"])))
        present[f"xfs mount {disk['mount']}"] = mounts.get(str(disk["mount"]), ("",))[0] == "xfs"
    present[f"netns {state['netns']}"] = netns_exists(state["netns"])
    veth = state["veth_recorder"]
    present[f"veth {veth} (mtu {state['mtu']})"] = interface_mtu(veth) == state["mtu"]
    present[f"sshd in {state['netns']}"] = pid_from_file(state["ssh"]["pidfile"], comm="sshd") is not None
    if all(present.values()):
        kind = "up"
    elif not any(present.values()):
        kind = "down"
    else:
        kind = "partial"
    return LabStatus(kind, str(work_dir), present, info_from_state(state) if kind == "up" else None)
