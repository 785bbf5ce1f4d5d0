"""Samples of the run every metrics period: sender, recorder, kernel UDP counters, disks, CPU and RSS.

Read from /proc on the recorder node (this machine: the local lab's recorder runs on the host), from the
sender's progress lines, and from the recorder's control port. Each sample is one line of metrics.jsonl;
nothing accumulates in memory but the previous sample (for rates).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.scenario.errors import SYSTEM_FAULTS

SAMPLE_FAULTS: tuple[type[Exception], ...] = (*SYSTEM_FAULTS, psutil.Error)

SECTOR_BYTES = 512


def udp_counters(snmp: str | None = None) -> dict[str, int]:
    """InDatagrams, RcvbufErrors, InErrors... from /proc/net/snmp's two Udp: lines."""
    text = Path("/proc/net/snmp").read_text() if snmp is None else snmp
    rows = [line.split()[1:] for line in text.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2:
        return {}
    return {name: int(value) for name, value in zip(rows[0], rows[1], strict=False)}


def block_device(mount_point: str) -> str | None:
    """The /proc/diskstats name of the device holding ``mount_point`` (loop0, sda, ...)."""
    try:
        dev = os.stat(mount_point).st_dev
        link = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
    except OSError:
        return None
    return link.name if link.exists() else None


def sectors_written(diskstats: str | None = None) -> dict[str, int]:
    text = Path("/proc/diskstats").read_text() if diskstats is None else diskstats
    written = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 10:
            written[fields[2]] = int(fields[9])
    return written


@dataclass
class ProcessProbe:
    """CPU %, RSS, open file descriptors and threads of one process (psutil), tolerant of it exiting."""

    pid: int | None

    def __post_init__(self) -> None:
        self._process = None
        self._cpu_before: tuple[float, float] | None = None
        if self.pid:
            try:
                self._process = psutil.Process(self.pid)
            except psutil.Error:
                self._process = None

    def sample(self) -> dict[str, float | int] | None:
        if self._process is None:
            return None
        try:
            with self._process.oneshot():
                times = self._process.cpu_times()
                cpu = times.user + times.system
                rss = self._process.memory_info().rss
                fds = self._process.num_fds()
                threads = self._process.num_threads()
        except psutil.Error:
            return None
        now = time.monotonic()
        percent = None
        if self._cpu_before is not None:
            then, cpu_then = self._cpu_before
            percent = round(100 * (cpu - cpu_then) / max(now - then, 1e-6), 1)
        self._cpu_before = (now, cpu)
        return {"cpu_pct": percent if percent is not None else 0.0, "rss_bytes": int(rss), "fds": fds,
                "threads": threads}


class MetricsSampler:
    """A thread that calls ``sample()`` every period and hands each result to ``sink``."""

    def __init__(self, period: float, mount_points: list[str], sink: Callable[[dict[str, Any]], None],
                 sources: dict[str, Callable[[], dict[str, Any] | None]], *, local: bool = True) -> None:
        self.period = period
        self.local = local
        """False: this machine's kernel counters and disks are not the recorder node's (a node probe gives those)."""
        self.mount_points = mount_points
        self.sink = sink
        self.sources = sources
        self.scan: str | None = None
        self.stop = threading.Event()
        self._devices = {m: block_device(m) for m in mount_points}
        self._previous: tuple[float, dict[str, int]] | None = None
        self._udp_start = udp_counters()
        self.lowest_free: int | None = None
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=10)

    def udp_errors_since_start(self) -> dict[str, int]:
        now = udp_counters()
        return {k: now.get(k, 0) - self._udp_start.get(k, 0) for k in ("RcvbufErrors", "InErrors", "InDatagrams")}

    def _loop(self) -> None:
        next_time = time.monotonic()
        while not self.stop.is_set():
            self.sink(self.sample())
            next_time += self.period
            self.stop.wait(max(0.0, next_time - time.monotonic()))

    def sample(self) -> dict[str, Any]:
        now = time.time()
        sample: dict[str, Any] = {"t": round(now, 3), "scan": self.scan}
        for name, source in self.sources.items():
            try:
                sample[name] = source()
            except SAMPLE_FAULTS as exc:  # a fault of what is sampled: the gap shows in the data
                sample[name] = {"error": f"{type(exc).__name__}: {exc}"}
        if self.local:
            counters = udp_counters()
            sample["udp"] = {k: v for k, v in counters.items() if k in ("InDatagrams", "RcvbufErrors", "InErrors")}
            sample["disks"] = self._disks(now)
        return sample

    def _disks(self, now: float) -> dict[str, dict[str, float | int | None]]:
        written = sectors_written()
        previous = self._previous
        self._previous = (now, written)
        disks: dict[str, dict[str, float | int | None]] = {}
        for mount, device in self._devices.items():
            try:
                stat = os.statvfs(mount)
            except OSError:
                continue
            free = stat.f_bavail * stat.f_frsize
            self.lowest_free = free if self.lowest_free is None else min(self.lowest_free, free)
            rate = None
            if previous is not None and device in written and device in previous[1]:
                rate = (written[device] - previous[1][device]) * SECTOR_BYTES / max(now - previous[0], 1e-6)
            disks[mount] = {"write_bytes_per_s": None if rate is None else round(rate),
                            "free_bytes": free, "total_bytes": stat.f_blocks * stat.f_frsize}
        return disks
