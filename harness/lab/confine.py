"""Where a lab state's paths may lead: plainly inside the lab's own work directory or mount root.

A state file names what `down` unmounts, removes and kills and which sysctls it restores. Even a state only
root could have written (harness/lab/trust.py) is checked against what a lab makes before anything acts on
it: every path absolute, without `..`, strictly below its root and reached through no symbolic link below
that root; mount points named as the lab names them; namespaces and links named vlbi-*. A state that fails is
refused with one line naming each path, and nothing is done.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from harness.lab.errors import LabError

LAB_PREFIX = "vlbi-"
"""Every namespace and link a lab makes is named so."""
SYSCTL_DIR = Path("/etc/sysctl.d")
LAB_SYSCTL_FILE = re.compile(r"^60-vlbi-lab[-a-z0-9]*\.conf$")
"""The lab's own sysctl files (60-vlbi-lab.conf, 60-vlbi-lab-multinode.conf); a real FlexBuff's is not one."""
LAB_DISK = re.compile(r"^disk[0-9]+$")


def _plain(path: str) -> str | None:
    """Why ``path`` is not an absolute path spelt without `..` (None if it is)."""
    if not os.path.isabs(path):
        return "not an absolute path"
    if ".." in path.split("/"):
        return "has '..' in it"
    return None


def outside(path: str | Path, root: Path) -> str | None:
    """Why ``path`` is not plainly inside ``root`` (None if it is): absolute, no `..`, strictly below ``root``
    as written, and its real path ``root``'s real path joined with the same parts (no symbolic link below
    ``root`` leads elsewhere, even back inside)."""
    text = str(path)
    why = _plain(text)
    if why:
        return why
    root = Path(os.path.abspath(root))
    try:
        rel = Path(text).relative_to(root)
    except ValueError:
        return f"outside {root}"
    if not rel.parts:
        return f"is {root} itself"
    if Path(os.path.realpath(text)) != Path(os.path.realpath(root)) / rel:
        return f"reached through a symbolic link (it leads to {os.path.realpath(text)})"
    return None


def inside(path: str | Path, root: Path) -> bool:
    return outside(path, root) is None


def _mount_root_problem(mount_root: Any) -> str | None:
    text = str(mount_root)
    why = _plain(text)
    if why:
        return why
    if Path(text) == Path("/"):
        return "is /"
    if os.path.realpath(text) != os.path.normpath(text):
        return f"is reached through a symbolic link (it leads to {os.path.realpath(text)})"
    return None


class _Findings:
    """What a state names that no lab makes, each as 'what path (why)'."""

    def __init__(self) -> None:
        self.wrong: list[str] = []

    def path(self, what: str, value: Any, root: Path) -> None:
        if value in (None, ""):
            return
        why = outside(str(value), root)
        if why:
            self.wrong.append(f"{what} {value} ({why})")

    def name(self, what: str, value: Any) -> None:
        if not str(value).startswith(LAB_PREFIX):
            self.wrong.append(f"{what} {value} (not {LAB_PREFIX}*)")

    def mount_root(self, state: dict[str, Any]) -> Path:
        why = _mount_root_problem(state["mount_root"])
        if why:
            self.wrong.append(f"mount root {state['mount_root']} ({why})")
        return Path(str(state["mount_root"]))

    def sysctl_file(self, value: Any, work_dir: Path) -> None:
        """The lab's own file in /etc/sysctl.d (never another role's, such as a FlexBuff's), or one in its work dir."""
        if value in (None, ""):
            return
        if outside(str(value), work_dir) is None:
            return
        if outside(str(value), SYSCTL_DIR) is None and Path(str(value)).parent == SYSCTL_DIR \
                and LAB_SYSCTL_FILE.match(Path(str(value)).name):
            return
        self.wrong.append(f"sysctl_file {value} (not {SYSCTL_DIR}/60-vlbi-lab*.conf nor inside {work_dir})")

    def raise_if_any(self, work_dir: Path) -> None:
        if self.wrong:
            raise LabError(f"{work_dir / 'state.json'}: names what the lab never makes: {'; '.join(self.wrong)}; "
                           "nothing done")


def _work_dir_field(found: _Findings, state: dict[str, Any], work_dir: Path) -> None:
    named = state.get("work_dir")
    if named is not None and os.path.abspath(str(named)) != os.path.abspath(work_dir):
        found.wrong.append(f"work_dir {named} (read from {work_dir})")


def check_state(state: dict[str, Any], work_dir: Path) -> None:
    """The local lab's (or the degraded lab's) state: refused unless everything it names is the lab's own."""
    if state.get("lab") == "netns":
        check_netns_state(state, work_dir)
        return
    found = _Findings()
    _work_dir_field(found, state, work_dir)
    mount_root = found.mount_root(state)
    for disk in state.get("disks", []):
        mount = str(disk["mount"])
        found.path("mount", mount, mount_root)
        if Path(mount).parent != mount_root or not LAB_DISK.match(Path(mount).name):
            found.wrong.append(f"mount {mount} (not {mount_root}/disk<N>)")
        if "device" in disk:
            found.path("image", disk["device"], work_dir)
    if state.get("lab") != "degraded":
        found.name("netns", state["netns"])
        found.name("veth_recorder", state["veth_recorder"])
        ssh = state["ssh"]
        for key in ("dir", "identity", "known_hosts", "sshd_config", "pidfile"):
            found.path(f"ssh {key}", ssh.get(key), work_dir)
        found.path("sysctl_before", state.get("sysctl_before"), work_dir)
        found.sysctl_file(state.get("sysctl_file"), work_dir)
    found.raise_if_any(work_dir)


def check_netns_state(state: dict[str, Any], work_dir: Path) -> None:
    """The namespace lab's state (inventory/multinode.yml): the same rules, per node."""
    found = _Findings()
    _work_dir_field(found, state, work_dir)
    mount_root = found.mount_root(state)
    found.name("switch", state["switch"])
    found.name("controller_link", state["controller_link"])
    for node in state["nodes"]:
        found.name("netns", node["netns"])
        for disk in node["disks"]:
            found.path("mount", disk["mount"], mount_root)
            found.path("image", disk["device"], work_dir)
        found.path("pidfile", node["pidfile"], work_dir)
    for key in ("dir", "identity", "known_hosts"):
        found.path(f"ssh {key}", state["ssh"].get(key), work_dir)
    found.path("sysctl_before", state.get("sysctl_before"), work_dir)
    found.sysctl_file(state.get("sysctl_file"), work_dir)
    found.raise_if_any(work_dir)
