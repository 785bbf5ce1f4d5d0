"""Jinja filters for the VLBI lab roles: FlexBuff disk lists, never-lower sysctl targets, IP addresses.

Kept as plain functions so that the harness's tests can call them without Ansible.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def lab_disks(count: Any, image_dir: str, mount_root: str) -> list[dict[str, str]]:
    """The local lab's disks: one sparse image file per FlexBuff mount point (disk0..diskN-1)."""
    return [{"device": f"{image_dir.rstrip('/')}/disk{n}.img", "mount": f"{mount_root.rstrip('/')}/disk{n}",
             "label": f"vlbilab{n}"} for n in range(int(count))]


def _numbers(value: Any) -> list[int]:
    return [int(part) for part in str(value).split()]


def sysctl_at_least(current: Any, wanted: Any) -> str:
    """The larger of two sysctl values, element by element for vectors such as net.ipv4.udp_mem.

    The FlexBuff values are minima from an older, smaller machine: a kernel that already allows more
    (udp_mem scales with RAM) must not be lowered by the tuning.
    """
    have, want = _numbers(current), _numbers(wanted)
    if len(have) != len(want):
        return " ".join(str(n) for n in want)
    return " ".join(str(max(a, b)) for a, b in zip(have, want, strict=True))


def sysctl_targets(wanted: dict[str, Any], current_lines: list[str],
                   at_least: list[str] | None = None) -> dict[str, str]:
    """The value each sysctl should get, given the wanted values and `sysctl -n` output in the same order.

    Keys in `at_least` keep a running value that is already larger; the others get the wanted value.
    """
    raise_only = set(at_least or [])
    keys = list(wanted)
    if len(current_lines) != len(keys):
        raise ValueError(f"expected {len(keys)} sysctl values, got {len(current_lines)}: {current_lines!r}")
    targets: dict[str, str] = {}
    for key, line in zip(keys, current_lines, strict=True):
        want = " ".join(str(wanted[key]).split())
        targets[key] = sysctl_at_least(line, want) if key in raise_only else want
    return targets


def sysctl_differs(targets: dict[str, str], current_lines: list[str]) -> list[str]:
    """`key=value` arguments for `sysctl -w`, only for values that differ from the running kernel."""
    return [f"{key}={value}" for (key, value), line in zip(targets.items(), current_lines, strict=True)
            if " ".join(line.split()) != value]


def ip_address(value: Any) -> str:
    """The address in its canonical form (IPv6 compressed), or "" when the value is not an IP address.

    sshd's AllowUsers and ListenAddress take host names too, but a name would make the lock-out check
    (the address this connection comes from) meaningless and AllowUsers would depend on reverse DNS.
    """
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"vlbi_lab_disks": lab_disks, "vlbi_sysctl_targets": sysctl_targets,
                "vlbi_sysctl_differs": sysctl_differs, "vlbi_sysctl_at_least": sysctl_at_least,
                "vlbi_ip_address": ip_address}
