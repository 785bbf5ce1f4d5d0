"""`down` and `status` act only on paths plainly inside the lab's own work dir or mount root (harness/lab/confine.py):
absolute, no `..`, no symbolic link below the root, mount points named <mount root>/disk<N>. A state naming
anything else is refused with one line naming the path, before anything is removed, unmounted or killed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.lab import LabError, lab_down, lab_status
from harness.lab.confine import check_state, outside
from harness.lab.state import write_state


def _state(work: Path) -> dict[str, Any]:
    ssh = work / "ssh"
    return {"schema": 1, "lab": "local", "work_dir": str(work), "mount_root": str(work / "mnt"), "disk_size": "64M",
            "disks": [{"device": str(work / "images" / "disk0.img"), "mount": str(work / "mnt" / "disk0")}],
            "netns": "vlbi-confine-test", "veth_recorder": "vlbi-ct-r", "veth_sender": "vlbi-ct-s",
            "recorder_ip": "198.19.255.1", "sender_ip": "198.19.255.2", "prefix": 30, "mtu": 9000,
            "ssh": {"dir": str(ssh), "port": 22, "user": "root", "identity": str(ssh / "id_ed25519"),
                    "known_hosts": str(ssh / "known_hosts"), "sshd_config": str(ssh / "sshd_config"),
                    "pidfile": str(ssh / "sshd.pid")},
            "sysctl_file": "/etc/sysctl.d/60-vlbi-lab.conf", "sysctl_profile": "flexbuff",
            "sysctl_before": str(work / "sysctl-before.json")}


def _ssh(key: str, value: str) -> Callable[[dict[str, Any], Path], None]:
    def change(state: dict[str, Any], work: Path) -> None:
        state["ssh"][key] = value.format(work=work)
    return change


def _top(key: str, value: str) -> Callable[[dict[str, Any], Path], None]:
    def change(state: dict[str, Any], work: Path) -> None:
        state[key] = value.format(work=work)
    return change


def _mount(value: str) -> Callable[[dict[str, Any], Path], None]:
    def change(state: dict[str, Any], work: Path) -> None:
        state["disks"][0]["mount"] = value.format(work=work)
    return change


def _ssh_dir_linked_out(state: dict[str, Any], work: Path) -> None:
    elsewhere = work.parent / "someone-elses-keys"
    elsewhere.mkdir()
    (elsewhere / "id_ed25519").write_text("not the lab's\n")
    (work / "ssh").rmdir()
    (work / "ssh").symlink_to(elsewhere)  # rmtree'd by down if followed


def _ssh_dir_linked_back_inside(state: dict[str, Any], work: Path) -> None:
    (work / "ssh").rmdir()
    (work / "ssh").symlink_to(work / "images")


def _mount_root_linked(state: dict[str, Any], work: Path) -> None:
    (work.parent / "mnt-link").symlink_to(work / "mnt")
    state["mount_root"] = str(work.parent / "mnt-link")
    state["disks"][0]["mount"] = str(work.parent / "mnt-link" / "disk0")


CASES = [
    ("ssh identity", _ssh("identity", "/root/.ssh/id_ed25519"), "ssh identity /root/.ssh/id_ed25519 (outside"),
    ("known_hosts", _ssh("known_hosts", "/root/.ssh/known_hosts"), "ssh known_hosts /root/.ssh/known_hosts (outside"),
    ("sshd pidfile", _ssh("pidfile", "/run/sshd.pid"), "ssh pidfile /run/sshd.pid (outside"),
    ("sshd config", _ssh("sshd_config", "/etc/ssh/sshd_config"), "ssh sshd_config /etc/ssh/sshd_config (outside"),
    ("pidfile via ..", _ssh("pidfile", "{work}/ssh/../../../run/sshd.pid"), "/../run/sshd.pid (has '..' in it)"),
    ("sysctl save via .. inside", _top("sysctl_before", "{work}/ssh/../sysctl-before.json"), "(has '..' in it)"),
    ("relative sysctl save", _top("sysctl_before", "sysctl-before.json"),
     "sysctl_before sysctl-before.json (not an absolute path)"),
    ("a FlexBuff's sysctl file", _top("sysctl_file", "/etc/sysctl.d/60-vlbi-flexbuff.conf"),
     "sysctl_file /etc/sysctl.d/60-vlbi-flexbuff.conf (not /etc/sysctl.d/60-vlbi-lab*.conf"),
    ("ssh dir a link out", _ssh_dir_linked_out, "ssh dir {work}/ssh (reached through a symbolic link"),
    ("ssh dir a link back inside", _ssh_dir_linked_back_inside, "ssh dir {work}/ssh (reached through a symbolic link"),
    ("mount root a link", _mount_root_linked, "mount root {work}/../mnt-link"),
    ("mount not a lab disk", _mount("{work}/mnt/home"), "mount {work}/mnt/home (not {work}/mnt/disk<N>)"),
    ("mount root's own dir", _mount("{work}/mnt"), "mount {work}/mnt (is {work}/mnt itself)"),
    ("another work dir", _top("work_dir", "/var/lib/vlbi-lab"), "work_dir /var/lib/vlbi-lab (read from {work})"),
]


def _tree(top: Path) -> list[str]:
    """Every path below ``top`` but the lab lock (made by the first attempt)."""
    return sorted(str(p) for p in top.rglob("*") if not p.name.endswith(".lock"))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab's work dir as `up` leaves it, without the kernel's parts: an image, a mount point, the ssh folder."""
    work = tmp_path / "lab"
    for folder in ("images", "mnt/disk0", "ssh"):
        (work / folder).mkdir(parents=True)
    (work / "images" / "disk0.img").write_bytes(b"")
    return work


def test_the_state_a_lab_makes_passes(lab: Path) -> None:
    check_state(_state(lab), lab)


@pytest.mark.parametrize(("change", "named"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_path_outside_the_lab_is_refused_by_down_and_status_before_anything_is_done(
        lab: Path, change: Callable[[dict[str, Any], Path], None], named: str) -> None:
    state = _state(lab)
    change(state, lab)
    write_state(lab, state)
    before = _tree(lab.parent)
    for attempt in (lambda: lab_down(work_dir=lab), lambda: lab_status(work_dir=lab)):
        with pytest.raises(LabError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith(f"{lab}/state.json: names what the lab never makes: ") and "\n" not in message
        assert named.format(work=lab).replace(f"{lab}/../", f"{lab.parent}/") in message, message
        assert message.endswith("nothing done")
    assert _tree(lab.parent) == before  # nothing removed, inside or out


def test_outside_names_why() -> None:
    root = Path("/var/lib/vlbi-lab")
    assert outside("/var/lib/vlbi-lab/ssh/id_ed25519", root) is None
    assert outside("/var/lib/vlbi-lab", root) == "is /var/lib/vlbi-lab itself"
    assert outside("/var/lib/vlbi-lab-other/x", root) == "outside /var/lib/vlbi-lab"
    assert outside("/var/lib/vlbi-lab/../vlbi-lab/x", root) == "has '..' in it"
    assert outside("ssh/id", root) == "not an absolute path"
    assert os.path.isabs("/var/lib/vlbi-lab/./ssh") and outside("/var/lib/vlbi-lab/./ssh", root) is None
