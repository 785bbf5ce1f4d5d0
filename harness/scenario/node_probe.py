"""A lab node's own figures, every period, as JSON lines on stdout: ``python -m harness.scenario.node_probe``.

Run on each node of an inventory lab (over SSH, from the node's harness venv) for the whole run: the kernel's
UDP counters (/proc/net/snmp), the data interface's counters (/sys/class/net), each mount point's free space
and write rate (/proc/diskstats), and CPU and RSS of the harness's sender or recorder processes there (found by
their command line). It ends on SIGTERM or SIGINT, which harness.lab.remote's node half sends when the
controller or its SSH connection goes away.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from harness.scenario.metrics import MetricsSampler

NIC_COUNTERS = ("rx_bytes", "rx_packets", "rx_dropped", "rx_errors", "rx_missed_errors", "tx_bytes", "tx_packets",
                "tx_dropped")
PROCESS_MARKS = {"recorder": ("harness.recorder", "jive5ab"), "sender": ("harness.sender",)}


def nic_counters(interface: str) -> dict[str, int]:
    found = {}
    for name in NIC_COUNTERS:
        try:
            found[name] = int(Path(f"/sys/class/net/{interface}/statistics/{name}").read_text())
        except (OSError, ValueError):
            continue
    return found


def _same_node(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return False


class ProcessWatch:
    """CPU % and RSS of the processes whose command line holds one of the marks (summed), between samples."""

    def __init__(self, marks: tuple[str, ...]) -> None:
        self.marks = marks
        self._before: dict[int, tuple[float, float]] = {}

    def sample(self) -> dict[str, Any]:
        cpu = rss = 0.0
        count = 0
        now = time.monotonic()
        seen: dict[int, tuple[float, float]] = {}
        for process in psutil.process_iter(["pid", "cmdline"]):
            line = " ".join(process.info.get("cmdline") or [])
            if not any(mark in line for mark in self.marks) or "harness.lab.remote" in line:
                continue
            if not _same_node(process.pid):  # nodes that are namespaces of one machine share its process table
                continue
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    used = times.user + times.system
                    rss += process.memory_info().rss
            except psutil.Error:
                continue
            count += 1
            seen[process.pid] = (now, used)
            if process.pid in self._before:
                then, used_then = self._before[process.pid]
                cpu += 100 * (used - used_then) / max(now - then, 1e-6)
        self._before = seen
        return {"processes": count, "cpu_pct": round(cpu, 1), "rss_bytes": int(rss)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.scenario.node_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True)
    parser.add_argument("--role", choices=sorted(PROCESS_MARKS), required=True)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--interface", default="")
    parser.add_argument("--mount", action="append", default=[])
    opts = parser.parse_args(argv)
    watch = ProcessWatch(PROCESS_MARKS[opts.role])
    lines: list[dict[str, Any]] = []
    sampler = MetricsSampler(opts.period, opts.mount, lines.append, {opts.role: watch.sample})
    ended = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: ended.set())
    next_time = time.monotonic()
    while not ended.is_set():
        sample = sampler.sample()
        sample["node"] = opts.node
        if opts.interface:
            sample["nic"] = {opts.interface: nic_counters(opts.interface)}
        sample["udp_since_start"] = sampler.udp_errors_since_start()
        sample.pop("scan", None)
        try:
            print(json.dumps(sample), flush=True)
        except BrokenPipeError:
            return 0
        next_time += opts.period
        ended.wait(max(0.0, next_time - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
