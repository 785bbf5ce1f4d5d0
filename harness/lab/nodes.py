"""The lab's nodes as testinfra hosts, and the facts read from them (kernel, CPU, interfaces, disks, sysctls).

testinfra runs its commands without a time limit, so every command here is wrapped in coreutils'
`timeout`, and ssh has a connect timeout; each command line is logged by testinfra's logger into the
lab log.
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass
from typing import Any

import testinfra

from harness.lab.errors import LabError
from harness.lab.info import LabInfo

log = logging.getLogger("harness.lab")
COMMAND_TIMEOUT = 20


@dataclass
class Node:
    """A lab node: its role in the lab, a testinfra host, its data interface."""

    role: str                      # recorder | sender
    host: Any                      # testinfra.host.Host
    data_interface: str

    def run(self, command: str, *args: str, timeout: int = COMMAND_TIMEOUT) -> Any:
        quoted = " ".join(shlex.quote(a) for a in args)
        line = f"timeout {timeout} {command} {quoted}".rstrip()
        result = self.host.run(line)
        log.info("[%s] $ %s -> %s", self.role, line, result.rc)
        return result

    def output(self, command: str, *args: str) -> str:
        result = self.run(command, *args)
        if result.rc != 0:
            raise LabError(f"{self.role}: {command} {' '.join(args)} exited with {result.rc}: "
                           f"{result.stderr.strip()}")
        return str(result.stdout)


def lab_nodes(info: LabInfo) -> dict[str, Node]:
    """The recorder (this machine) and the sender node (over its sshd; this machine too when degraded)."""
    logging.getLogger("testinfra").setLevel(logging.INFO)
    local = testinfra.get_host("local://")
    nodes = {"recorder": Node("recorder", local, info.recorder_interface)}
    if info.sender_ssh is not None and not info.degraded:
        ssh = info.sender_ssh
        extra = (f"-o UserKnownHostsFile={ssh.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
                 "-o BatchMode=yes -o LogLevel=ERROR -o ControlMaster=no")
        remote = testinfra.get_host(f"ssh://{ssh.user}@{ssh.host}:{ssh.port}", ssh_identity_file=ssh.identity,
                                    ssh_extra_args=extra, controlpersist=0, timeout=5)
        nodes["sender"] = Node("sender", remote, info.sender_interface)
    else:
        nodes["sender"] = Node("sender", local, info.sender_interface)
    return nodes


def interfaces(node: Node) -> dict[str, int]:
    """Interface name -> MTU, as the node sees them (inside its namespace for the local sender node)."""
    links = json.loads(node.output("ip", "-j", "link", "show"))
    return {str(link["ifname"]): int(link["mtu"]) for link in links}


def kernel(node: Node) -> str:
    return node.output("uname", "-srm").strip()


def cpu(node: Node) -> str:
    text = node.output("cat", "/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    count = len(models) or text.count("processor\t:")
    return f"{models[0] if models else 'unknown CPU'} ({count} CPUs)"


@dataclass(frozen=True)
class DiskFacts:
    mount: str
    fstype: str
    source: str
    options: str
    size_bytes: int
    free_bytes: int
    device_id: str
    is_mount: bool

    def to_json(self) -> dict[str, Any]:
        return {"mount": self.mount, "fstype": self.fstype, "source": self.source, "options": self.options,
                "size_bytes": self.size_bytes, "free_bytes": self.free_bytes}


def disk(node: Node, mount: str) -> DiskFacts:
    """The filesystem at (or under) a mount point: type, options, size and free space."""
    found = node.run("findmnt", "-J", "-T", mount, "-o", "TARGET,SOURCE,FSTYPE,OPTIONS")
    entry = json.loads(found.stdout)["filesystems"][0] if found.rc == 0 else {}
    stat = node.run("stat", "-f", "-c", "%a %b %S", mount)
    device = node.run("stat", "-c", "%d", mount)
    free = size = 0
    if stat.rc == 0:
        avail, blocks, block_size = (int(x) for x in stat.stdout.split())
        free, size = avail * block_size, blocks * block_size
    return DiskFacts(mount=mount, fstype=str(entry.get("fstype", "")), source=str(entry.get("source", "")),
                     options=str(entry.get("options", "")), size_bytes=size, free_bytes=free,
                     device_id=device.stdout.strip(), is_mount=entry.get("target") == mount)


def sysctls(node: Node, keys: list[str]) -> dict[str, str]:
    """Running values, whitespace normalised (udp_mem is tab separated)."""
    lines = node.output("sysctl", "-n", *keys).splitlines()
    return {k: " ".join(v.split()) for k, v in zip(keys, lines, strict=False)}


def clock_sync(node: Node) -> str:
    """What keeps this node's clock right, as far as it says (chrony, systemd-timesyncd), else 'unknown'."""
    chrony = node.run("chronyc", "-n", "tracking")
    if chrony.rc == 0:
        for line in chrony.stdout.splitlines():
            if line.startswith("System time"):
                return "chrony: " + line.split(":", 1)[1].strip()
        return "chrony"
    timedated = node.run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if timedated.rc == 0 and timedated.stdout.strip():
        return f"NTPSynchronized={timedated.stdout.strip()}"
    return "unknown (no chrony or timedatectl answer)"
