"""Which mechanism does each kind of fault, by name (one table), and which kinds this machine cannot do."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from functools import cache

from harness.faults.datagrams import StrayDatagrams
from harness.faults.disks import FailDisk, FillDisk, UnmountDisk
from harness.faults.injector import Injector
from harness.faults.network import NetemDelay, NftLoss, TbfRateLimit
from harness.faults.processes import RecorderKill, RecorderStop, SenderKill

SENDER_SIDE = ("duplicate", "reorder")
"""Put on the wire by vdif-send itself (--wire-fault), exactly, and counted by it."""

INJECTORS: dict[str, type[Injector]] = {
    "loss": NftLoss,
    "delay": NetemDelay,
    "rate_limit": TbfRateLimit,
    "recorder_stop": RecorderStop,
    "recorder_kill": RecorderKill,
    "sender_kill": SenderKill,
    "disk_full": FillDisk,
    "disk_fail": FailDisk,
    "disk_gone": UnmountDisk,
    "short_datagram": StrayDatagrams,
    "long_datagram": StrayDatagrams,
    "port_scan": StrayDatagrams,
}


@cache
def netem_missing() -> str | None:
    """Why netem cannot be used here (tried on a namespace's loopback made for the purpose), or None."""
    if shutil.which("tc") is None or shutil.which("ip") is None:
        return "tc or ip is not installed"
    name = f"vlbi-netem-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode != 0:
        return "no network namespace could be made to try netem (not root?)"
    try:
        done = subprocess.run(["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                               "delay", "1ms"], capture_output=True, text=True, check=False)
        return None if done.returncode == 0 else f"this kernel has no netem qdisc ({done.stderr.strip()})"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def unavailable(kind: str) -> str | None:
    """Why no mechanism on this machine can inject ``kind`` (one line), or None."""
    if kind == "delay":
        missing = netem_missing()
        return None if missing is None else f"delay needs netem: {missing}"
    if kind == "disk_fail" and (shutil.which("chattr") is None or shutil.which("losetup") is None):
        return "disk_fail needs chattr and losetup (a loop device whose image is made immutable)"
    if kind in ("loss",) and shutil.which("nft") is None:
        return "loss needs nftables (nft is not installed)"
    return None
