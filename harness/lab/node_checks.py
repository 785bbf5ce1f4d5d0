"""Preflight of an inventory lab: testinfra over SSH on every node, every check named after its node.

On each recorder node: its disks are XFS mount points with the FlexBuff options and the free space the
schedule needs, its FlexBuff sysctls, its data interface's MTU, the harness there of the controller's version,
its clock offset, and a multicast group the scenario sends to routes via its data interface. On the sender
node: MTU, harness version, clock. Between the sender and every recorder, a
DF-set jumbo ping both ways. What is found becomes results.json's ``environment["nodes"]``.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

import testinfra

from harness import __version__
from harness.lab import nodes as facts
from harness.lab.inventory import InventoryNode
from harness.lab.preflight import MOUNT_OPTIONS, PreflightCheck, _advisory, _gib, multicast_route_check
from harness.lab.probes import clock_offset, flexbuff_sysctls, sysctl_satisfies
from harness.lab.wheel import source_digest

log = logging.getLogger("harness.lab")


def testinfra_node(node: InventoryNode) -> facts.Node:
    ssh = node.ssh
    extra = (f"-o UserKnownHostsFile={ssh.known_hosts} -o StrictHostKeyChecking=yes -o BatchMode=yes "
             "-o LogLevel=ERROR -o ControlMaster=no -o ConnectTimeout=5" + (" -o IdentitiesOnly=yes" if ssh.identity
                                                                           else ""))
    host = testinfra.get_host(f"ssh://{ssh.user}@{ssh.host}:{ssh.port}", ssh_identity_file=ssh.identity or None,
                              ssh_extra_args=extra, controlpersist=0, timeout=5, sudo=node.become)
    return facts.Node(node.name, host, node.data_interface)


def _reachable(node: InventoryNode, probe: facts.Node, checks: list[PreflightCheck]) -> bool:
    result = probe.run("true")
    ok = result.rc == 0
    detail = f"{node.ssh.user}@{node.ssh.host}:{node.ssh.port}" if ok else \
        f"ssh {node.ssh.user}@{node.ssh.host}:{node.ssh.port}: {result.stderr.strip() or f'exit {result.rc}'}"
    checks.append(PreflightCheck(f"{node.name} reachable over SSH", ok, detail))
    return ok


_NODE_VERSION = ("import harness; from harness.lab.wheel import source_digest; "
                 "print(harness.__version__, source_digest())")


def _version(node: InventoryNode, probe: facts.Node, checks: list[PreflightCheck]) -> str | None:
    """The harness on the node is the controller's: same version, built from the same sources."""
    result = probe.run(node.python, "-c", _NODE_VERSION)
    words = [*(str(result.stdout).split() if result.rc == 0 else []), "", ""]
    have, digest = words[0], words[1]
    ours = source_digest()
    if not have:
        detail = f"no harness at {node.python}: {result.stderr.strip()[-200:]}"
    elif have != __version__:
        detail = f"{have} at {node.python}, the controller has {__version__}: provision again (--provision)"
    elif digest != ours:
        detail = (f"{have} at {node.python}, built from other sources than the controller's "
                  f"({digest[:12]} ≠ {ours[:12]}): provision again (--provision)")
    else:
        detail = f"{have} at {node.python} (sources {ours[:12]})"
    checks.append(PreflightCheck(f"{node.name} harness {__version__}", have == __version__ and digest == ours, detail))
    return have or None


def _disks(node: InventoryNode, probe: facts.Node, free_needed: int, checks: list[PreflightCheck]) -> list[Any]:
    disks = [facts.disk(probe, m) for m in node.mount_points]
    for d in disks:
        problems = [] if d.is_mount else ["not a mount point"]
        if d.fstype != "xfs":
            problems.append(f"{d.fstype or 'no filesystem'}, not xfs")
        problems += [f"mounted without {o}" for o in MOUNT_OPTIONS if o not in d.options.split(",")]
        good = f"xfs on {d.source} ({d.options}); {_gib(d.free_bytes)} free of {_gib(d.size_bytes)}"
        checks.append(PreflightCheck(f"{node.name} disk {d.mount}", not problems, "; ".join(problems) or good))
    free = sum({d.device_id: d.free_bytes for d in disks}.values())
    checks.append(PreflightCheck(f"{node.name} free space", free >= free_needed,
                                 f"{_gib(free)} free over {len(disks)} disks, {_gib(free_needed)} needed"))
    return [d.to_json() for d in disks]


def _sysctls(node: InventoryNode, probe: facts.Node, profile: str, checks: list[PreflightCheck]) -> dict[str, str]:
    wanted, at_least = flexbuff_sysctls(profile)
    running: dict[str, str] = {}
    for key, want in wanted.items():
        result = probe.run("sysctl", "-n", key)
        name = f"{node.name} sysctl {key}"
        if result.rc != 0 and node.netns:  # not visible inside a network namespace: the host's (the lab's play set it)
            checks.append(_advisory(name, True, f"not visible in namespace {node.netns}: a host-wide value"))
            continue
        have = " ".join(result.stdout.split())
        running[key] = have
        minimum = key in at_least
        checks.append(PreflightCheck(name, sysctl_satisfies(have, want, at_least=minimum),
                                     f"{have or 'unreadable'} ({'≥' if minimum else '='} {want} wanted)"))
    return running


def _mtu(node: InventoryNode, probe: facts.Node, mtu: int, checks: list[PreflightCheck]) -> dict[str, int]:
    links = facts.interfaces(probe)
    have = links.get(node.data_interface)
    checks.append(PreflightCheck(f"{node.name} MTU {node.data_interface}", have == mtu,
                                 f"mtu {have}, {mtu} wanted" if have is not None else "no such interface"))
    return links


def _ping(source: InventoryNode, probe: facts.Node, target: InventoryNode, mtu: int,
          checks: list[PreflightCheck]) -> None:
    payload = mtu - 28
    result = probe.run("ping", "-M", "do", "-s", str(payload), "-c", "3", "-i", "0.2", "-W", "1", "-q",
                       target.data_address)
    summary = [line for line in (result.stdout + result.stderr).splitlines() if "packet" in line or "rror" in line]
    checks.append(PreflightCheck(f"{source.name} jumbo ping to {target.name} ({target.data_address})", result.rc == 0,
                                 f"{mtu}-byte IP packets, DF set: "
                                 + (summary[-1].strip() if summary else f"ping exited with {result.rc}")))


def _clock(node: InventoryNode, limit_s: float | None, checks: list[PreflightCheck]) -> dict[str, Any] | None:
    name = f"{node.name} clock offset"
    try:
        measured = clock_offset(node.ssh, python=shlex.quote(node.python))
    except Exception as exc:  # ssh or the node's python can fail in many ways; the check says how
        checks.append(PreflightCheck(name, limit_s is None, f"not measured: {exc}"))
        return None
    detail = f"{measured.offset_s * 1e3:+.3f} ms ± {measured.uncertainty_s * 1e3:.3f} ms"
    ok = limit_s is None or abs(measured.offset_s) - measured.uncertainty_s <= limit_s
    checks.append(PreflightCheck(name, ok, detail + (f" (limit {limit_s * 1e3:g} ms)" if limit_s else "")))
    return measured.to_json()


def inventory_preflight(sender: InventoryNode | None, recorders: list[InventoryNode], *, mtu: int,
                        free_bytes_needed: int, sysctl_profile: str = "flexbuff",
                        clock_limit_s: float | None = 0.01,
                        multicast: str | None = None) -> tuple[list[PreflightCheck], dict[str, Any]]:
    """Every check on every node; the checks and the per-node environment. multicast: the scenario's group."""
    logging.getLogger("testinfra").setLevel(logging.INFO)
    checks: list[PreflightCheck] = []
    nodes: dict[str, dict[str, Any]] = {}
    probes: dict[str, facts.Node] = {}
    for node in ([sender] if sender else []) + recorders:
        probe = testinfra_node(node)
        env: dict[str, Any] = {"role": node.role, "ssh": f"{node.ssh.user}@{node.ssh.host}:{node.ssh.port}",
                               "data_address": node.data_address, "data_interface": node.data_interface}
        nodes[node.name] = env
        if not _reachable(node, probe, checks):
            continue
        probes[node.name] = probe
        env["harness_version"] = _version(node, probe, checks)
        env["kernel"], env["cpu"] = facts.kernel(probe), facts.cpu(probe)
        env["interfaces"] = _mtu(node, probe, mtu, checks)
        if node.role == "recorder":
            env["disks"] = _disks(node, probe, free_bytes_needed, checks)
            env["sysctls"] = _sysctls(node, probe, sysctl_profile, checks)
            if multicast:
                checks.append(multicast_route_check(probe, multicast, f"{node.name} multicast route {multicast}"))
        env["clock"] = _clock(node, clock_limit_s, checks)
        env["clock_sync"] = facts.clock_sync(probe)
    if sender and sender.name in probes:
        for recorder in recorders:
            if recorder.name in probes:
                _ping(sender, probes[sender.name], recorder, mtu, checks)
                _ping(recorder, probes[recorder.name], sender, mtu, checks)
    for check in checks:
        log.info("preflight %-4s %s: %s", "ok" if check.passed else "FAIL", check.name, check.detail)
    return checks, {"nodes": nodes}
