"""`down` after a half-finished `up`: it removes what is there of what the state names, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.lab import LabError, lab_down, lab_status
from tests.waiting import wait_until

pytestmark = [pytest.mark.root, pytest.mark.serial,  # makes vlbi-* namespaces, which the lab tests must not see
              pytest.mark.skipif(os.geteuid() != 0, reason="makes and removes a network namespace (root)")]


def _state(work: Path, netns: str) -> dict[str, object]:
    return {"schema": 1, "lab": "local", "work_dir": str(work), "mount_root": str(work / "mnt"), "disk_size": "64M",
            "disks": [{"device": str(work / "images" / f"disk{n}.img"), "mount": str(work / "mnt" / f"disk{n}")}
                      for n in range(2)],
            "netns": netns, "veth_recorder": f"{netns[:8]}-r", "veth_sender": f"{netns[:8]}-s",
            "recorder_ip": "198.19.255.1", "sender_ip": "198.19.255.2", "prefix": 30, "mtu": 9000,
            "ssh": {"dir": str(work / "ssh"), "port": 22, "user": "root", "identity": str(work / "ssh" / "id"),
                    "known_hosts": str(work / "ssh" / "kh"), "sshd_config": str(work / "ssh" / "c"),
                    "pidfile": str(work / "ssh" / "sshd.pid")},
            "sysctl_file": str(work / "not-managed.conf"), "sysctl_profile": "flexbuff", "sysctl_before": ""}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_down_after_a_half_finished_up(tmp_path: Path) -> None:
    work, netns = tmp_path / "lab", f"vlbi-t{os.getpid()}"
    (work / "images").mkdir(parents=True)
    (work / "ssh").mkdir()
    (work / "images" / "disk0.img").write_bytes(b"")        # the first image made, the second not yet
    (work / "mnt" / "disk0").mkdir(parents=True)             # its mount point made, nothing mounted
    (work / "not-managed.conf").write_text("kernel.x = 1\n")  # a sysctl file the lab did not write: kept
    (work / "state.json").write_text(json.dumps(_state(work, netns)))
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=30)
    sleeper = None
    try:
        sleeper = subprocess.Popen(["ip", "netns", "exec", netns, "sleep", "300"])  # something left running in it
        wait_until(lambda: _comm(sleeper.pid) == "sleep", what="ip netns exec to become sleep")
        assert lab_status(work_dir=work).state == "partial"
        removed = lab_down(work_dir=work)
        assert sleeper.wait(timeout=10) != 0
        assert f"netns {netns}" in removed and f"image {work}/images/disk0.img" in removed
        assert any(r.startswith("process ") and "(sleep)" in r for r in removed)
        assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
        assert sorted(p.name for p in work.iterdir()) == ["not-managed.conf"]
        assert lab_down(work_dir=work) == []
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30, check=False)


def test_a_busy_mount_point_keeps_the_state_and_names_the_holder(tmp_path: Path) -> None:
    work = tmp_path / "lab"
    mount = work / "mnt" / "disk0"
    mount.mkdir(parents=True)
    state = _state(work, f"vlbi-u{os.getpid()}")
    state["disks"] = [{"device": str(work / "images" / "disk0.img"), "mount": str(mount)}]
    (work / "state.json").write_text(json.dumps(state))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "vlbi-test", str(mount)], check=True, timeout=30)
    holder = subprocess.Popen(["sleep", "300"], cwd=mount)
    try:
        with pytest.raises(LabError, match=rf"cannot unmount {mount}: .*busy.*; held by: {holder.pid} \(sleep\)"):
            lab_down(work_dir=work)
        assert (work / "state.json").exists()  # so that down can be run again once the holder is gone
        holder.kill()
        holder.wait(timeout=10)
        assert lab_down(work_dir=work)[0] == f"mount {mount}"
        assert not work.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30, check=False)
