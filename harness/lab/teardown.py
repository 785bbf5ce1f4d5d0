"""Taking the local lab down: exactly what its state file names, in an order the kernel accepts.

Processes in the sender namespace first (they may hold mounts through ip-netns-exec's mount namespace),
then the XFS mounts, their loop devices and images, the namespace and veth, the sysctl values found
before the first `up`, and last the state itself. Every step tolerates a part that is already gone, so
`down` after a half-finished `up` (or twice) is safe.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from harness.lab import commands
from harness.lab.confine import check_state
from harness.lab.confine import inside as _inside
from harness.lab.errors import CommandFailed, LabError
from harness.lab.state import loop_devices_for, mounted_filesystems, netns_exists, state_path
from harness.lab.trust import private_dir, read_private

log = logging.getLogger("harness.lab")

MANAGED_MARK = "Managed by Ansible (role udp_tuning)"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that does not reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _signal_all(pids: list[int], sig: signal.Signals, netns: str, removed: list[str]) -> list[int]:
    """Send ``sig`` to those of ``pids`` still alive; the ones it was sent to."""
    sent = []
    for pid in pids:
        if not _alive(pid):
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            os.kill(pid, sig)
        except (ProcessLookupError, FileNotFoundError):
            continue
        log.info("sent %s to %d (%s) in %s", sig.name, pid, comm, netns)
        removed.append(f"process {pid} ({comm})")
        sent.append(pid)
    return sent


def _stop_namespace_processes(netns: str, removed: list[str]) -> None:
    """Stop every process in the namespace: SIGTERM, then SIGKILL; listed again until none is left, since a
    process can still be entering the namespace (``ip netns exec`` that has not reached its command yet)."""
    if not netns_exists(netns):
        return
    pids: list[int] = []
    for _ in range(5):
        pids = [p for p in map(int, commands.run(["ip", "netns", "pids", netns], timeout=10).stdout.split())
                if _alive(p)]
        if not pids:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = _signal_all(pids, sig, netns, removed)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and any(_alive(p) for p in alive):
                time.sleep(0.05)
            pids = [p for p in alive if _alive(p)]
            if not pids:
                break
        if pids:
            raise LabError(f"processes in {netns} survived SIGKILL: {pids}")
    raise LabError(f"processes kept entering {netns} while it was being emptied")


def _holders(mount: str) -> list[str]:
    """Processes with their working directory, root or an open file under a mount point: 'pid (comm)'."""
    found = []
    prefix = mount.rstrip("/") + "/"
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            links = [proc / "cwd", proc / "root", *(proc / "fd").iterdir()]
            targets = [os.readlink(link) for link in links]
            if any(t == mount or t.startswith(prefix) for t in targets):
                found.append(f"{proc.name} ({(proc / 'comm').read_text().strip()})")
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def _unmount(mount: str, removed: list[str], problems: list[str]) -> None:
    if mount not in mounted_filesystems():
        return
    try:
        commands.run(["umount", mount], timeout=60)
        removed.append(f"mount {mount}")
    except CommandFailed as exc:
        holders = ", ".join(_holders(mount)) or "no process found (another mount namespace?)"
        problems.append(f"cannot unmount {mount}: {exc.output.strip()}; held by: {holders}")


def _detach_loops(image: str, removed: list[str], problems: list[str]) -> None:
    for device in loop_devices_for(image):
        try:
            commands.run(["losetup", "-d", device], timeout=30)
            removed.append(f"loop device {device}")
        except CommandFailed as exc:
            problems.append(f"cannot detach {device} ({image}): {exc}")
    # autoclear loops go away asynchronously after the last umount
    deadline = time.monotonic() + 5.0
    while loop_devices_for(image) and time.monotonic() < deadline:
        time.sleep(0.05)
    if loop_devices_for(image):
        problems.append(f"loop devices still attached to {image}: {loop_devices_for(image)}")


def _remove_network(state: dict[str, Any], removed: list[str]) -> None:
    netns, veth = state["netns"], state["veth_recorder"]
    if netns_exists(netns):
        commands.run(["ip", "netns", "del", netns], timeout=30)
        removed.append(f"netns {netns}")
    link = Path(f"/sys/class/net/{veth}")
    deadline = time.monotonic() + 3.0
    while link.exists() and time.monotonic() < deadline:  # goes with its peer, asynchronously
        time.sleep(0.05)
    if link.exists():
        commands.run(["ip", "link", "del", veth], timeout=30, check=False)
        if link.exists():
            raise LabError(f"veth {veth} is still there after ip link del")
        removed.append(f"veth {veth}")
    _remove_run_netns(removed)


def _remove_run_netns(removed: list[str]) -> None:
    """`ip netns add` bind-mounts /run/netns on itself and never undoes it; do so once no namespace is left."""
    run_netns = Path("/run/netns")
    if "/run/netns" in mounted_filesystems() and run_netns.is_dir() and not any(run_netns.iterdir()):
        commands.run(["umount", "/run/netns"], timeout=30)
        run_netns.rmdir()
        removed.append("mount /run/netns (ip netns' own)")


def _restore_sysctls(state: dict[str, Any], removed: list[str]) -> None:
    saved = Path(state.get("sysctl_before") or "")
    text = read_private(saved) if saved.name else None
    if text is not None:
        before: dict[str, str] = json.loads(text)
        now = commands.run(["sysctl", "-n", *before], timeout=10).stdout.splitlines()
        differ = [f"{k}={v}" for (k, v), line in zip(before.items(), now, strict=False) if " ".join(line.split()) != v]
        if differ:
            commands.run(["sysctl", "-w", *differ], timeout=10)
            removed.append("sysctls restored: " + ", ".join(differ))
        saved.unlink()
    conf = Path(state.get("sysctl_file") or "")
    if conf.name and conf.is_file() and MANAGED_MARK in conf.read_text():
        conf.unlink()
        removed.append(f"file {conf}")


def teardown(state: dict[str, Any], work_dir: Path) -> list[str]:
    """Remove everything the state names; returns what was removed. Raises LabError if something stays."""
    check_state(state, work_dir)  # before anything is done: every path the lab's own
    removed: list[str] = []
    problems: list[str] = []
    mount_root = Path(state["mount_root"])
    if state.get("lab") == "degraded":
        mounts = [Path(d["mount"]) for d in state.get("disks", [])]
        for folder in (mount_root, *mounts):  # all of them this user's before any is removed
            private_dir(folder, create=False)
        for mount in mounts:
            if mount.is_dir() and _inside(mount, mount_root):
                shutil.rmtree(mount)
                removed.append(f"directory {mount}")
    elif state.get("lab") == "netns":
        from harness.lab.netns import netns_teardown

        return netns_teardown(state, work_dir)
    else:
        _stop_namespace_processes(state["netns"], removed)
        for disk in state.get("disks", []):
            _unmount(str(disk["mount"]), removed, problems)
        for disk in state.get("disks", []):
            _detach_loops(str(disk["device"]), removed, problems)
        if problems:
            raise LabError("lab not fully down (state kept; fix and run down again): " + "; ".join(problems))
        for disk in state.get("disks", []):
            image, mount = Path(disk["device"]), Path(disk["mount"])
            if image.is_file() and _inside(image, work_dir):
                image.unlink()
                removed.append(f"image {image}")
            if mount.is_dir() and _inside(mount, mount_root):
                try:
                    mount.rmdir()
                except OSError as exc:  # written to while unmounted: keep it, say so
                    problems.append(f"{mount} is not empty after unmounting ({exc.strerror}); left in place")
        _remove_network(state, removed)
        _restore_sysctls(state, removed)
        ssh_dir = Path(state["ssh"]["dir"])
        if ssh_dir.is_dir() and _inside(ssh_dir, work_dir):
            shutil.rmtree(ssh_dir)
            removed.append(f"directory {ssh_dir} (sender node's sshd and keys)")
        image_dir = Path(state["disks"][0]["device"]).parent if state.get("disks") else None
        if image_dir and image_dir.is_dir() and _inside(image_dir, work_dir) and not any(image_dir.iterdir()):
            image_dir.rmdir()
    return finish_down(work_dir, mount_root, removed, problems)


def finish_down(work_dir: Path, mount_root: Path, removed: list[str], problems: list[str]) -> list[str]:
    """The last steps of every `down`: the emptied mount root, the state, the emptied work directory; LabError
    naming what stayed."""
    if mount_root.is_dir() and not any(mount_root.iterdir()):
        mount_root.rmdir()
        removed.append(f"directory {mount_root}")
    state_path(work_dir).unlink(missing_ok=True)
    if work_dir.is_dir() and not any(work_dir.iterdir()):
        work_dir.rmdir()
        removed.append(f"directory {work_dir}")
    if problems:
        raise LabError("lab down, but: " + "; ".join(problems))
    return removed
