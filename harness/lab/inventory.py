"""A lab's nodes and roles from its Ansible inventory alone, read with Ansible's own inventory and templating.

Groups ``senders`` and ``recorders`` give the roles; ``ansible_host``, ``ansible_user``, ``ansible_port``,
``ansible_ssh_private_key_file`` and the ``UserKnownHostsFile`` of ``ansible_ssh_common_args`` say how to
log in; host vars ``data_address``, ``data_interface`` and ``xfs_disks_list`` give the data path and the
disks; ``harness_node_dir`` (or ``harness_node_venv``) where the harness runs on the node. Nothing host-specific
goes into a scenario file.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.errors import LabError
from harness.lab.info import SshTarget

ANSIBLE_CFG = Path(__file__).resolve().parents[2] / "ansible" / "ansible.cfg"
ROLES = ("senders", "recorders")
DEFAULT_NODE_DIR = "/opt/vlbi-harness"  # the harness_node role's default
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class InventoryNode:
    """One sender or recorder node as the inventory describes it."""

    name: str
    role: str                                   # sender | recorder
    ssh: SshTarget
    data_address: str
    data_interface: str
    mount_points: tuple[str, ...] = ()
    python: str = f"{DEFAULT_NODE_DIR}/venv/bin/python"
    netns: str | None = None                    # a namespace of this machine (inventory/multinode.yml)
    jive5ab_image: str | None = None
    jive5ab_control_port: int = 2620
    become: bool = False
    """ansible_become: the harness's commands there run through ``sudo -n`` (the login needs passwordless sudo)."""

    def privileged(self, argv: list[str]) -> list[str]:
        return ["sudo", "-n", *argv] if self.become else list(argv)

    @property
    def lock_key(self) -> str:
        """What two runs must not share: this node's SSH address."""
        return f"{self.ssh.host}:{self.ssh.port}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "ssh": f"{self.ssh.user}@{self.ssh.host}:{self.ssh.port}",
                "data_address": self.data_address, "data_interface": self.data_interface,
                "mount_points": list(self.mount_points), "python": self.python, "netns": self.netns}


@dataclass(frozen=True)
class Inventory:
    path: Path
    nodes: dict[str, InventoryNode]
    netns_work_dir: str | None = None           # set when the inventory makes its nodes on this machine
    groups: dict[str, list[str]] = field(default_factory=dict)

    def role(self, role: str) -> list[InventoryNode]:
        return [n for n in self.nodes.values() if n.role == role]

    def node(self, name: str, role: str) -> InventoryNode:
        found = self.nodes.get(name)
        if found is None or found.role != role:
            have = ", ".join(n.name for n in self.role(role)) or "none"
            raise LabError(f"{self.path}: no {role} node {name!r} (its {role}s: {have})")
        return found


def _known_hosts(common_args: str) -> str:
    words = shlex.split(common_args or "")
    for n, word in enumerate(words):
        option = words[n + 1] if word == "-o" and n + 1 < len(words) else word.removeprefix("-o")
        key, _, value = option.partition("=")
        if key.strip().lower() == "userknownhostsfile" and value:
            return value.strip()
    return DEFAULT_KNOWN_HOSTS


def read_inventory(path: str | Path) -> Inventory:
    """Every sender and recorder node of an inventory; LabError naming the host and the variable on a problem."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"no such inventory: {path}")
    os.environ.setdefault("ANSIBLE_CONFIG", str(ANSIBLE_CFG))  # the lab's filter plugins, before ansible loads
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(path)])
    except AnsibleError as exc:
        raise LabError(f"{path}: not a readable inventory: {str(exc).splitlines()[0]}") from None
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    if not any(groups.get(role) for role in ROLES):
        raise LabError(f"{path}: no hosts in groups senders or recorders (see ansible/inventory/lab.example.yml)")
    variables = VariableManager(loader=loader, inventory=manager)

    def values(host: str) -> dict[str, Any]:
        raw = variables.get_vars(host=manager.get_host(host), include_hostvars=False)
        templar = Templar(loader=loader, variables=raw)
        wanted = ("ansible_host", "ansible_user", "ansible_port", "ansible_ssh_private_key_file",
                  "ansible_ssh_common_args", "data_address", "data_interface", "xfs_disks_list", "harness_node_dir",
                  "harness_node_venv", "netns_lab_netns", "netns_lab_work_dir", "jive5ab_image", "jive5ab_control_port",
                  "ansible_become")
        found: dict[str, Any] = {}
        for key in wanted:
            if key in raw:
                try:
                    found[key] = templar.template(raw[key])
                except AnsibleError as exc:
                    raise LabError(f"{path}: host {host}: {key}: {str(exc).splitlines()[0]}") from None
        return found

    nodes: dict[str, InventoryNode] = {}
    for role in ROLES:
        for host in groups.get(role, []):
            if host in nodes:
                raise LabError(f"{path}: host {host} is in both senders and recorders: give each role its own node")
            nodes[host] = _node(path, host, role.removesuffix("s"), values(host))
    netns_hosts = groups.get("netns_lab", [])
    work_dir = str(values(netns_hosts[0]).get("netns_lab_work_dir") or "") if netns_hosts else ""
    return Inventory(path=path, nodes=nodes, netns_work_dir=work_dir or None, groups=groups)


def _node(path: Path, host: str, role: str, found: dict[str, Any]) -> InventoryNode:
    def need(key: str) -> str:
        value = found.get(key)
        if value in (None, ""):
            raise LabError(f"{path}: host {host}: set {key} (the {role} node's {key.replace('_', ' ')})")
        return str(value)

    address = need("data_address")
    if not re.fullmatch(r"[0-9A-Za-z.:_-]+", address):
        raise LabError(f"{path}: host {host}: data_address {address!r} is not an address")
    try:
        port = int(found.get("ansible_port") or 22)
    except (TypeError, ValueError):
        raise LabError(f"{path}: host {host}: ansible_port {found.get('ansible_port')!r} is not a number") from None
    for name in ("ansible_host", "ansible_user"):
        value = str(found.get(name) or "")
        if value and not re.fullmatch(r"[0-9A-Za-z._][0-9A-Za-z._:-]*", value):  # never an ssh option (-o...)
            raise LabError(f"{path}: host {host}: {name} {value!r} is not a host or user name")
    key = found.get("ansible_ssh_private_key_file")
    ssh = SshTarget(host=str(found.get("ansible_host") or host), user=str(found.get("ansible_user") or "root"),
                    identity=os.path.expanduser(str(key)) if key else "",
                    known_hosts=os.path.expanduser(_known_hosts(str(found.get("ansible_ssh_common_args") or ""))),
                    port=port)
    mounts: list[str] = []
    if role == "recorder":
        disks = found.get("xfs_disks_list") or []
        if not isinstance(disks, list) or not disks:
            raise LabError(f"{path}: host {host}: set xfs_disks_list (the recorder node's disks and mount points)")
        for disk in disks:
            if not isinstance(disk, dict) or not disk.get("mount"):
                raise LabError(f"{path}: host {host}: xfs_disks_list entry {disk!r} has no mount")
            mounts.append(str(disk["mount"]))
    venv = str(found.get("harness_node_venv") or f"{found.get('harness_node_dir') or DEFAULT_NODE_DIR}/venv")
    try:
        control_port = int(found.get("jive5ab_control_port") or 2620)
    except (TypeError, ValueError):
        raise LabError(f"{path}: host {host}: jive5ab_control_port is not a number") from None
    return InventoryNode(name=host, role=role, ssh=ssh, data_address=address,
                         data_interface=need("data_interface"), mount_points=tuple(mounts), python=f"{venv}/bin/python",
                         netns=str(found["netns_lab_netns"]) if found.get("netns_lab_netns") else None,
                         jive5ab_image=str(found["jive5ab_image"]) if found.get("jive5ab_image") else None,
                         jive5ab_control_port=control_port,
                         become=str(found.get("ansible_become", "")).lower() in ("true", "yes", "1"))
