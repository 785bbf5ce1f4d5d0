"""What limits a recorder at a rate: its CPU (all of it, and its busiest thread), the socket (the kernel's
RcvbufErrors), the disks (sectors written) and the sender (on its schedule or not), sampled over one scan.

The limit is named from these, in this order: a sender that fell behind; a socket that overflowed while the
recorder's busiest thread held a core (the reader: CPU-bound); a socket that overflowed while the machine's cores
were all busy (sender, recorder and the kernel's loopback share them); blocks the recorder lost without socket
drops (its buffers: the disks did not take the data in time); else nothing was lost.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from harness.scenario.metrics import block_device, sectors_written, udp_counters

BUSY_THREAD = 85.0
"""% of one core: a thread this busy over a scan is taken as what bounds it."""


@dataclass
class Profile:
    seconds: float = 0.0
    recorder_cpu_pct: float = 0.0
    """All the recorder's threads, % of one core (200 = both cores of this machine)."""
    busiest_thread_pct: float = 0.0
    busiest_thread: str = ""
    machine_cpu_pct: float = 0.0
    """All cores, % of the machine."""
    rcvbuf_errors: int = 0
    disk_mb_per_s: float = 0.0
    threads: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Profiler:
    """``with Profiler(pid, mounts) as profile: <one scan>``; ``profile.result`` afterwards."""

    def __init__(self, pid: int | None, mounts: list[str]) -> None:
        self.process = psutil.Process(pid) if pid else None
        self.devices = sorted({d for d in (block_device(m) for m in mounts) if d})
        self.result = Profile()

    def __enter__(self) -> Profiler:
        self._began = time.monotonic()
        self._udp = udp_counters()
        self._sectors = self._written()
        self._threads = self._thread_times()
        self._cpu = self._process_time()
        psutil.cpu_percent(None)
        return self

    def _written(self) -> int:
        written = sectors_written()
        return sum(written.get(d, 0) for d in self.devices)

    def _process_time(self) -> float:
        if self.process is None:
            return 0.0
        try:
            times = self.process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def _thread_times(self) -> dict[str, float]:
        """CPU seconds per thread, by its name (/proc/PID/task/TID/comm) and id."""
        if self.process is None:
            return {}
        found = {}
        try:
            for thread in self.process.threads():
                try:
                    with open(f"/proc/{self.process.pid}/task/{thread.id}/comm") as fh:
                        name = fh.read().strip()
                except OSError:
                    name = "?"
                found[f"{name}/{thread.id}"] = thread.user_time + thread.system_time
        except psutil.Error:
            pass
        return found

    def __exit__(self, *_: object) -> None:
        seconds = max(time.monotonic() - self._began, 1e-6)
        threads = self._thread_times()
        busy = {name: round(100 * (t - self._threads.get(name, 0.0)) / seconds, 1) for name, t in threads.items()}
        top = max(busy, key=lambda name: busy[name], default="")
        udp = udp_counters()
        self.result = Profile(
            seconds=round(seconds, 3),
            recorder_cpu_pct=round(100 * (self._process_time() - self._cpu) / seconds, 1),
            busiest_thread_pct=busy.get(top, 0.0), busiest_thread=top,
            machine_cpu_pct=round(psutil.cpu_percent(None), 1),
            rcvbuf_errors=udp.get("RcvbufErrors", 0) - self._udp.get("RcvbufErrors", 0),
            disk_mb_per_s=round((self._written() - self._sectors) * 512 / seconds / 1e6, 1),
            threads={k: v for k, v in sorted(busy.items(), key=lambda kv: -kv[1])[:6]})


def limit(scan: dict[str, Any]) -> str:
    """The one-line reason a scan was not lossless, from its profile."""
    profile = scan.get("profile") or {}
    if not scan.get("sender_kept_up", True):
        return "the sender: it fell behind its schedule (this machine's CPU, shared with the recorder)"
    if profile.get("rcvbuf_errors", 0) > 0:
        if profile.get("busiest_thread_pct", 0) >= BUSY_THREAD:
            return (f"the recorder's CPU: its busiest thread ({profile['busiest_thread']}) took "
                    f"{profile['busiest_thread_pct']:.0f} % of a core while the socket overflowed "
                    f"({profile['rcvbuf_errors']} RcvbufErrors)")
        if profile.get("machine_cpu_pct", 0) >= 90:
            return (f"the machine's CPU: {profile['machine_cpu_pct']:.0f} % of all {os.cpu_count()} cores busy "
                    f"(sender, recorder {profile['recorder_cpu_pct']:.0f} %, the kernel's loopback) while the socket "
                    f"overflowed ({profile['rcvbuf_errors']} RcvbufErrors)")
        return f"the socket: {profile['rcvbuf_errors']} RcvbufErrors with CPU to spare (its buffer is too small)"
    if scan.get("lost", 0) or not scan.get("on_disk", True):
        return (f"the recorder's buffers or the disks: blocks lost without socket drops, the disks writing "
                f"{profile.get('disk_mb_per_s', 0):.0f} MB/s")
    return "nothing: lossless"
