"""Preflight: testinfra proves each node is in the state the roles set, before a scenario records anything.

Checks: every FlexBuff mount is XFS with the expected options and the free space the schedule needs;
every FlexBuff sysctl has its value; the data interfaces carry MTU 9000 and a DF-set jumbo ping crosses
the path both ways; a multicast group routes via the recorder's data interface (when the scenario sends to
one); the recorder answers `version?`; the sender node's clock offset is measured (and fails over a limit).
What the checks find becomes results.json's `environment`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.lab import multicast as mc
from harness.lab import nodes as facts
from harness.lab.commands import lab_log
from harness.lab.info import LabInfo
from harness.lab.probes import ClockOffset, clock_offset, flexbuff_sysctls, query_version, sysctl_satisfies

log = logging.getLogger("harness.lab")

MOUNT_OPTIONS = ("noatime",)
GIB = 1 << 30


@dataclass(frozen=True)
class PreflightCheck:
    """One preflight item: `passed` False means the scenario should not run.

    An advisory item only reports (always passed): what cannot apply in this lab, e.g. XFS and tuning in a
    lab without root, or a clock offset with no limit. Its detail says what was found, with "warning:"
    first when that falls short of a real lab.
    """

    name: str
    passed: bool
    detail: str
    advisory: bool = False

    @property
    def blocking(self) -> bool:
        return not self.passed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _advisory(name: str, fine: bool, detail: str) -> PreflightCheck:
    return PreflightCheck(name, True, detail if fine else f"warning: {detail}", advisory=True)


def blocking_failures(checks: list[PreflightCheck]) -> list[PreflightCheck]:
    """The checks that should stop a scenario."""
    return [check for check in checks if check.blocking]


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _disk_checks(info: LabInfo, node: facts.Node, free_bytes_needed: int,
                 checks: list[PreflightCheck]) -> list[facts.DiskFacts]:
    disks = [facts.disk(node, m) for m in info.mount_points]
    for d in disks:
        opts = d.options.split(",")
        if info.degraded:
            checks.append(PreflightCheck(f"recorder disk {d.mount}", Path(d.mount).is_dir(),
                                         f"degraded lab: plain directory on {d.fstype or '?'}, not XFS; "
                                         f"{_gib(d.free_bytes)} free"))
            continue
        problems = [] if d.is_mount else ["not a mount point"]
        if d.fstype != "xfs":
            problems.append(f"{d.fstype or 'no filesystem'}, not xfs")
        problems += [f"mounted without {o}" for o in MOUNT_OPTIONS if o not in opts]
        good = f"xfs on {d.source} ({d.options}); {_gib(d.free_bytes)} free of {_gib(d.size_bytes)}"
        checks.append(PreflightCheck(f"recorder disk {d.mount}", not problems, "; ".join(problems) or good))
    free = sum({d.device_id: d.free_bytes for d in disks}.values())  # plain dirs may share one filesystem
    checks.append(PreflightCheck("recorder free space", free >= free_bytes_needed,
                                 f"{_gib(free)} free over {len(disks)} disks, {_gib(free_bytes_needed)} needed"))
    return disks


def _sysctl_checks(info: LabInfo, node: facts.Node, checks: list[PreflightCheck]) -> dict[str, str]:
    wanted, at_least = flexbuff_sysctls(info.sysctl_profile)
    running = facts.sysctls(node, list(wanted))
    for key, want in wanted.items():
        have = running.get(key, "")
        minimum = key in at_least
        ok = sysctl_satisfies(have, want, at_least=minimum)
        detail = f"{have} ({'≥' if minimum else '='} {want} wanted, profile {info.sysctl_profile})"
        if info.degraded:
            checks.append(_advisory(f"recorder sysctl {key}", ok, f"{detail}; degraded lab: not tuned"))
        else:
            checks.append(PreflightCheck(f"recorder sysctl {key}", ok, detail))
    return running


def _path_checks(info: LabInfo, nodes: dict[str, facts.Node],
                 checks: list[PreflightCheck]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for role, node in nodes.items():
        found[role] = links = facts.interfaces(node)
        mtu = links.get(node.data_interface)
        ok = mtu is not None and (mtu >= info.mtu if info.degraded else mtu == info.mtu)
        checks.append(PreflightCheck(f"{role} MTU {node.data_interface}", ok,
                                     f"mtu {mtu}, {info.mtu} wanted" if mtu is not None else "no such interface"))
    payload = info.mtu - 28 if not info.degraded else 8972  # IPv4 + ICMP headers
    for role, peer_ip in (("sender", info.recorder_ip), ("recorder", info.sender_ip)):
        result = nodes[role].run("ping", "-M", "do", "-s", str(payload), "-c", "3", "-i", "0.2", "-W", "1", "-q",
                                 peer_ip)
        summary = [line for line in (result.stdout + result.stderr).splitlines() if "packet" in line or "rror" in line]
        name = f"{role} jumbo ping to {peer_ip}"
        detail = f"{payload + 28}-byte IP packets, DF set: " + \
            (summary[-1].strip() if summary else f"ping exited with {result.rc}")
        checks.append(_advisory(name, result.rc == 0, f"{detail} (degraded lab: loopback)") if info.degraded
                      else PreflightCheck(name, result.rc == 0, detail))
    return found


def multicast_route_check(node: facts.Node, group: str, name: str) -> PreflightCheck:
    """``ip route get <group>`` on the node must say ``dev <its data interface>`` (jive5ab joins there)."""
    result = node.run(*mc.route_argv(group))
    route = mc.parse_route_get(group, result.stdout if result.rc == 0 else result.stderr or result.stdout)
    problem = mc.route_problem(route, node.data_interface)
    return PreflightCheck(name, problem is None, problem or mc.route_summary(route))


def _recorder_check(recorder_version: Callable[[], str] | str | None, checks: list[PreflightCheck]) -> str | None:
    if recorder_version is None:
        return None
    try:
        version = recorder_version() if callable(recorder_version) else query_version(recorder_version)
    except Exception as exc:  # the caller's callable may raise anything; the check reports it
        checks.append(PreflightCheck("recorder answers version?", False, f"{type(exc).__name__}: {exc}"))
        return None
    checks.append(PreflightCheck("recorder answers version?", bool(version.strip()), version.strip() or "empty answer"))
    return version.strip()


def _container_check(node: facts.Node, name: str, checks: list[PreflightCheck]) -> None:
    result = node.run("docker", "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", name)
    status = result.stdout.strip() if result.rc == 0 else (result.stderr.strip() or f"exit {result.rc}")
    checks.append(PreflightCheck(f"recorder container {name}", status.startswith("running"), status))


def _clock_check(info: LabInfo, limit_s: float | None, checks: list[PreflightCheck]) -> ClockOffset | None:
    if info.degraded or info.sender_ssh is None:
        checks.append(_advisory("sender clock offset", True, "0 s: sender and recorder share this machine's clock"))
        return ClockOffset(0.0, 0.0, "same machine")
    try:
        measured = clock_offset(info.sender_ssh)
    except Exception as exc:  # ssh or the node's python can fail in many ways; report it as the check
        if limit_s is None:
            checks.append(_advisory("sender clock offset", False, f"not measured: {exc}"))
        else:
            checks.append(PreflightCheck("sender clock offset", False, f"not measured: {exc}"))
        return None
    detail = f"{measured.offset_s * 1e3:+.3f} ms ± {measured.uncertainty_s * 1e3:.3f} ms"
    if limit_s is None:
        checks.append(_advisory("sender clock offset", True, f"{detail} (no limit set)"))
    else:
        ok = abs(measured.offset_s) - measured.uncertainty_s <= limit_s
        checks.append(PreflightCheck("sender clock offset", ok, f"{detail} (limit {limit_s * 1e3:g} ms)"))
    return measured


def preflight(info: LabInfo, recorder_version: Callable[[], str] | str | None = None, free_bytes_needed: int = 0, *,
              clock_limit_s: float | None = 0.01, recorder_container: str | None = None,
              log_path: Path | None = None,
              multicast: str | None = None) -> tuple[list[PreflightCheck], dict[str, Any]]:
    """Check every node of the lab; returns the checks and results.json's `environment`.

    multicast: the group the scenario sends to, which must route via the recorder's data interface.

    recorder_version: a callable returning the recorder's version (raising if it does not answer), or the
    recorder's control address "host:port" (asked `version?` over VSI-S), or None to skip that check.
    clock_limit_s: the sender clock offset beyond which the check fails (None: measure and report only).
    """
    checks: list[PreflightCheck] = []
    with lab_log(log_path):
        nodes = facts.lab_nodes(info)
        recorder = nodes["recorder"]
        disks = _disk_checks(info, recorder, free_bytes_needed, checks)
        running = _sysctl_checks(info, recorder, checks)
        links = _path_checks(info, nodes, checks)
        if multicast:
            checks.append(multicast_route_check(recorder, multicast, f"recorder multicast route {multicast}"))
        version = _recorder_check(recorder_version, checks)
        if recorder_container:
            _container_check(recorder, recorder_container, checks)
        offset = _clock_check(info, clock_limit_s, checks)
        environment: dict[str, Any] = {
            "lab": info.lab,
            "nodes": {
                "recorder": {"kernel": facts.kernel(recorder), "cpu": facts.cpu(recorder),
                             "interfaces": links["recorder"], "data_interface": recorder.data_interface,
                             "disks": [d.to_json() for d in disks], "sysctls": running,
                             "clock": facts.clock_sync(recorder)},
                "sender": {"kernel": facts.kernel(nodes["sender"]), "cpu": facts.cpu(nodes["sender"]),
                           "interfaces": links["sender"], "data_interface": nodes["sender"].data_interface,
                           "address": info.sender_ip, "netns": info.sender_netns},
            },
            "clock_offset_s": offset.offset_s if offset else None,
            "clock": offset.to_json() if offset else None,
            "recorder_version": version,
        }
        for check in checks:
            log.info("preflight %-4s %s: %s", "ok" if check.passed else "FAIL", check.name, check.detail)
    return checks, environment
