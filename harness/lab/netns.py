"""A lab of several nodes on this machine (inventory/multinode.yml): up, status and down.

`up` builds the harness wheel from this checkout and runs ansible/site.yml: the netns_lab role makes a
namespace per node, a switch and an sshd per node (a recorder node's in a mount namespace of its own), the
node plays format and mount the disks inside the nodes and install the harness there. The state file the
role writes names every part; `down` removes exactly that: the processes in the nodes (whose end takes the
nodes' mounts with them), loop devices, images, namespaces, links, sysctls, keys and venvs.
"""

from __future__ import annotations

import logging
import shutil
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.lab import commands
from harness.lab.commands import lab_log
from harness.lab.confine import check_netns_state, inside
from harness.lab.errors import LabError
from harness.lab.inventory import read_inventory
from harness.lab.runner import SITE_PLAYBOOK, run_playbook
from harness.lab.state import interface_mtu, loop_devices_for, netns_exists, pid_from_file, read_state, state_path
from harness.lab.teardown import (
    _detach_loops,
    _remove_run_netns,
    _restore_sysctls,
    _stop_namespace_processes,
    finish_down,
)
from harness.lab.trust import private_dir

log = logging.getLogger("harness.lab")


@dataclass
class Provisioned:
    work_dir: Path | None
    nodes: list[str]
    changed: list[str]
    seconds: float
    summary: str


def is_netns_inventory(path: Path) -> bool:
    return path.is_file() and "netns_lab:" in path.read_text()


def provision_lab(inventory: Path, log_path: Path | None, *, limit: str | None = None, check_mode: bool = False,
                  timeout: float = 1800.0) -> Provisioned:
    """ansible/site.yml against an inventory, with the harness wheel of this checkout for its nodes (idempotent).

    For a namespace lab (a netns_lab group) this brings the lab up; its nodes then borrow this machine's
    dependencies of the harness (they share its filesystem). Raises PlaybookFailed naming the host and task.
    """
    parsed = read_inventory(inventory)
    work_dir = Path(parsed.netns_work_dir) if parsed.netns_work_dir else None
    started = time.monotonic()
    with lab_log(log_path):
        scratch = work_dir is None or (check_mode and read_state(work_dir) is None)  # nothing of a lab to keep
        if not scratch and work_dir is not None:
            private_dir(work_dir, create=True)
            wheel_dir = work_dir / "wheel"
        else:
            wheel_dir = Path(tempfile.mkdtemp(prefix="vlbi-harness-wheel-"))
        from harness import __version__
        from harness.lab.wheel import build_wheel, source_digest

        try:
            wheel = build_wheel(wheel_dir)
            extravars: dict[str, Any] = {"harness_node_wheel": str(wheel),
                                         "harness_node_build": f"{__version__} {source_digest()}"}
            if work_dir is not None:
                extravars.update(harness_node_python=getattr(sys, "_base_executable", sys.executable),
                                 harness_node_deps_from=sysconfig.get_paths()["purelib"])
            run = run_playbook(SITE_PLAYBOOK, inventory, extravars=extravars, timeout=timeout, log_path=log_path,
                               limit=limit, check_mode=check_mode)
            run.raise_for_failure()
        finally:
            if scratch:
                shutil.rmtree(wheel_dir, ignore_errors=True)
        if work_dir is not None and not check_mode and read_state(work_dir) is None:
            raise LabError(f"{SITE_PLAYBOOK.name} ran but wrote no lab state at {state_path(work_dir)}")
        log.info("provisioned in %.1f s: %s", time.monotonic() - started, run.summary())
    return Provisioned(work_dir, list(parsed.nodes), run.changed, time.monotonic() - started, run.summary())


def node_mounts(pid: int) -> dict[str, str]:
    """Mount point -> fstype inside the mount namespace of process ``pid`` (a recorder node's sshd)."""
    found: dict[str, str] = {}
    try:
        text = Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and rest:
            found[fields[4].replace("\\040", " ")] = rest[0]
    return found


def probe(state: dict[str, Any]) -> dict[str, bool]:
    """Each part the state names, and whether the kernel has it."""
    present = {f"netns {state['switch']}": netns_exists(state["switch"]),
               f"link {state['controller_link']}": interface_mtu(state["controller_link"]) is not None}
    for node in state["nodes"]:
        present[f"netns {node['netns']}"] = netns_exists(node["netns"])
        pid = pid_from_file(node["pidfile"], comm="sshd")
        present[f"sshd of {node['name']}"] = pid is not None
        mounts = node_mounts(pid) if pid else {}
        for disk in node["disks"]:
            present[f"xfs mount {disk['mount']} inside {node['name']}"] = mounts.get(disk["mount"]) == "xfs"
    return present


def netns_teardown(state: dict[str, Any], work_dir: Path) -> list[str]:
    """Remove everything the state names; what was removed. LabError if something stays."""
    check_netns_state(state, work_dir)
    removed: list[str] = []
    problems: list[str] = []
    for node in state["nodes"]:  # the last process of a node's mount namespace takes its mounts with it
        _stop_namespace_processes(node["netns"], removed)
    disks = [disk for node in state["nodes"] for disk in node["disks"]]
    for disk in disks:
        _detach_loops(str(disk["device"]), removed, problems)
    if problems:
        raise LabError("lab not fully down (state kept; fix and run down again): " + "; ".join(problems))
    mount_root = Path(state["mount_root"])
    for disk in disks:
        image, mount = Path(disk["device"]), Path(disk["mount"])
        if image.is_file():
            image.unlink()
            removed.append(f"image {image}")
        if mount.is_dir():
            try:
                mount.rmdir()
            except OSError as exc:  # written to while unmounted: keep it, say so
                problems.append(f"{mount} is not empty ({exc.strerror}); left in place")
    for node_dir in sorted({Path(d["mount"]).parent for d in disks}):
        if node_dir.is_dir() and inside(node_dir, mount_root) and not any(node_dir.iterdir()):
            node_dir.rmdir()
    for name in [node["netns"] for node in state["nodes"]] + [state["switch"]]:
        if netns_exists(name):
            commands.run(["ip", "netns", "del", name], timeout=30)
            removed.append(f"netns {name}")
    link = Path(f"/sys/class/net/{state['controller_link']}")
    deadline = time.monotonic() + 3.0
    while link.exists() and time.monotonic() < deadline:  # goes with its peer in the switch, asynchronously
        time.sleep(0.05)
    if link.exists():
        commands.run(["ip", "link", "del", state["controller_link"]], timeout=30, check=False)
        removed.append(f"link {state['controller_link']}")
    _remove_run_netns(removed)
    _restore_sysctls(state, removed)
    for folder in ("ssh", "nodes", "images", "wheel"):
        path = work_dir / folder
        if path.is_dir() and inside(path, work_dir):
            shutil.rmtree(path)
            removed.append(f"directory {path}")
    for disk in disks:
        if loop_devices_for(str(disk["device"])):
            problems.append(f"loop device still attached to {disk['device']}")
    return finish_down(work_dir, mount_root, removed, problems)
