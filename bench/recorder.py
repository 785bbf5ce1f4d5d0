"""Recorder benchmark: the highest lossless rate of the reference recorder, and of jive5ab in the same run.

Run: ``.venv/bin/python -m bench.recorder [--seconds 10] [--repeats 2] [--steps 5] [--sender-processes 1]``
(as root). It makes its own disks, two sparse 12 GiB XFS loop disks (loop devices in direct-I/O mode, so
that the loop layer does not add a second page cache a real disk does not have), mounts them, raises
net.core.rmem_max for the run, and undoes all of it at the end. Without root it records into plain
directories and says so. jive5ab is measured where ``JIVE5AB_BIN`` (or ``--jive5ab-bin``) names a
binary, with the same sender, stream, configuration and disks. Each step of the binary search on rate
passes only if every repeat is lossless: every datagram counted, none lost, every frame on disk,
and the sender on its schedule. The search goes up to the loopback limit (what vdif-send alone gets through
loopback here, measured first with the kernel as receiver; ``--max-gbps`` overrides it). Every scan is profiled
(bench/recorder_profile.py: the recorder's CPU and its busiest thread, the machine's CPU, the socket's
RcvbufErrors, the disks' write rate), and the first loss above the highest lossless rate is explained from its
profile: the sender, the recorder's CPU, the machine's CPU, the socket, or the recorder's buffers and disks.
Prints one line per step and a summary (``--json`` for a document).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.arguments import positive_float, positive_int
from bench.recorder_profile import Profiler, limit
from bench.sender import highest_lossless, raise_socket_limits, restore, run_ours
from harness.arguments import OneLineParser
from harness.recorder import RecorderConfig, RecorderError, VsisRecorder, open_recorder
from harness.recorder.model import size_argument
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = 8192
MODE = f"VDIF_{PAYLOAD}-4096-1-2"
"""jive5ab only takes the frame size from the mode; the sender sets the actual rate."""


def run(argv: list[str], timeout: float = 120) -> str:
    print(f"  $ {' '.join(argv)}", file=sys.stderr)
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout.strip()


@contextlib.contextmanager
def loop_disks(count: int, size: str) -> Iterator[list[str]]:
    """``count`` XFS loop disks (direct-I/O loop devices) mounted in a temporary directory; all removed after."""
    work = Path(tempfile.mkdtemp(prefix="bench-recorder-", dir="/var/tmp"))
    mounted: list[Path] = []
    devices: list[str] = []
    try:
        for n in range(count):
            image, mount = work / f"disk{n}.img", work / f"disk{n}"
            run(["truncate", "-s", size, str(image)])
            run(["mkfs.xfs", "-q", "-f", str(image)])
            devices.append(run(["losetup", "--direct-io=on", "--find", "--show", str(image)]))
            mount.mkdir()
            run(["mount", "-o", "noatime", devices[-1], str(mount)])
            mounted.append(mount)
        yield [str(m) for m in mounted]
    finally:
        for mount in mounted:
            subprocess.run(["umount", str(mount)], check=False, timeout=120)
        for device in devices:
            subprocess.run(["losetup", "-d", device], check=False, timeout=30)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def plain_directories(count: int) -> Iterator[list[str]]:
    work = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    try:
        paths = [work / f"disk{n}" for n in range(count)]
        for path in paths:
            path.mkdir()
        yield [str(p) for p in paths]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def jive5ab_size(text: str) -> str:
    try:
        size_argument(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def disk_size(text: str) -> str:
    if not re.fullmatch(r"[1-9]\d*[MG]", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a disk size like 12G or 512M")
    return text


class Trial:
    """One backend on the benchmark's disks: configure once, then one scan per `probe`."""

    def __init__(self, rec: VsisRecorder, disks: list[str], args: argparse.Namespace) -> None:
        self.rec, self.disks, self.args = rec, disks, args
        self.port = free_udp_port()
        self.scans: list[dict[str, Any]] = []
        rec.configure(RecorderConfig(
            mode=MODE, protocol="udps", socket_buffer=args.socket_buffer, workbuf="128M", nbuf=args.nbuf, mtu=9000,
            data_port=self.port, data_address="127.0.0.1", disks=disks, writers=args.writers, frame_bytes=PAYLOAD + 32,
        ))

    def probe(self, gbps: float) -> bool:
        return all(self.scan(gbps) for _ in range(self.args.repeats))

    def scan(self, gbps: float) -> bool:
        datagram = PAYLOAD + 32 + 8
        processes = self.args.sender_processes  # one thread each: the processes share one sequence-number space
        fps = max(1, round(gbps * 1e9 / 8 / datagram / processes))
        name = self.rec.record_on(f"bench_{len(self.scans):03d}")
        with Profiler(self.rec.pid, self.disks) as profiler:
            sender = subprocess.run(
                [sys.executable, "-m", "harness.sender", "--dest", "127.0.0.1", "--port", str(self.port), "--fps",
                 str(fps), "--threads", str(processes), "--processes", str(processes), "--payload-bytes",
                 str(PAYLOAD), "--udps", "--duration", str(self.args.seconds), "--json"],
                cwd=ROOT, capture_output=True, text=True, timeout=self.args.seconds + 60, check=False)
            time.sleep(0.5)
        result = self.rec.record_off()
        sent = json.loads(sender.stdout) if sender.returncode == 0 else {}
        frames = int(sent.get("frames_sent", -1))
        kept_up = sent.get("achieved_gbps", 0) >= 0.995 * sent.get("target_gbps", 1) and sent.get("send_failed") == 0
        on_disk = result.bytes == frames * (PAYLOAD + 32)
        lossless = (kept_up and result.packets == frames and result.lost == 0 and on_disk
                    and not result.stopped_early)
        self.scans.append({"gbps": round(gbps, 3), "frames_sent": frames, "packets": result.packets,
                           "lost": result.lost, "bytes_on_disk": result.bytes, "sender_kept_up": kept_up,
                           "stopped_early": result.stopped_early, "on_disk": on_disk, "lossless": lossless,
                           "profile": profiler.result.to_json()})
        print(f"    {name}: {gbps:5.2f} Gbit/s offered, {frames} sent, {result.packets} counted, {result.lost} lost, "
              f"{result.bytes / (PAYLOAD + 32):.0f} frames on disk{'' if kept_up else ', SENDER BEHIND'}",
              file=sys.stderr)
        for path in result.files:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for disk in self.disks:
            with contextlib.suppress(OSError):
                os.rmdir(Path(disk) / name)
        return lossless


def measure(backend: str, disks: list[str], args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    print(f"{backend}: udps, {PAYLOAD + 32}-byte frames, {args.writers} writers, {args.seconds:g} s per scan, "
          f"{args.repeats} scans per step", file=sys.stderr)
    try:
        with open_recorder(backend, log_dir=log_dir / backend, binary=args.jive5ab_bin, mounts=disks) as rec:
            if not isinstance(rec, VsisRecorder):
                raise RecorderError(f"{backend} is not a VSI-S recorder", backend=backend)
            version = rec.version()
            trial = Trial(rec, disks, args)
            best = highest_lossless(trial.probe, args.min_gbps, args.max_gbps, args.steps)
    except RecorderError as exc:
        print(f"{backend}: failed: {exc}", file=sys.stderr)
        return {"backend": backend, "error": str(exc)}
    above = [s for s in trial.scans if not s["lossless"] and s["gbps"] > best]
    first_loss = min(above, key=lambda s: s["gbps"]) if above else None
    at_best = [s for s in trial.scans if s["lossless"] and s["gbps"] == round(best, 3)]
    return {"backend": backend, "version": version, "highest_lossless_gbps": round(best, 3), "scans": trial.scans,
            "limit": limit(first_loss) if first_loss else f"none found up to {args.max_gbps:g} Gbit/s (the top)",
            "first_loss_gbps": first_loss["gbps"] if first_loss else None,
            "profile_at_best": at_best[-1]["profile"] if at_best else None,
            "profile_at_first_loss": first_loss["profile"] if first_loss else None}


def main() -> int:
    parser = OneLineParser(prog="bench.recorder", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=positive_float, default=10.0, help="scan length (default 10)")
    parser.add_argument("--repeats", type=positive_int, default=2,
                        help="scans per step, all lossless to pass (default 2)")
    parser.add_argument("--steps", type=positive_int, default=5, help="binary search steps (default 5)")
    parser.add_argument("--min-gbps", type=positive_float, default=1.0)
    parser.add_argument("--max-gbps", type=positive_float,
                        help="top of the search (default: the loopback limit, what vdif-send alone gets through "
                             "loopback here, measured first)")
    parser.add_argument("--sender-processes", type=positive_int, default=1,
                        help="vdif-send processes (--processes), for a sender faster than one core; default 1")
    parser.add_argument("--writers", type=positive_int, default=2)
    parser.add_argument("--nbuf", type=positive_int, default=4)
    parser.add_argument("--socket-buffer", type=jive5ab_size, default="128M")
    parser.add_argument("--disks", type=positive_int, default=2)
    parser.add_argument("--disk-size", type=disk_size, default="12G")
    parser.add_argument("--jive5ab-bin", default=os.environ.get("JIVE5AB_BIN"))
    parser.add_argument("--json", action="store_true", help="the results as JSON on stdout")
    args = parser.parse_args()
    root = os.geteuid() == 0
    saved = raise_socket_limits() if root else {}
    if not root:
        print("bench: not root: plain directories instead of XFS loop disks, socket limits as they are",
              file=sys.stderr)
    backends = ["reference"] + (["jive5ab"] if args.jive5ab_bin else [])
    results = []
    if args.max_gbps is None:  # the loopback limit: the sender alone, received by the kernel (bench.kernel_count)
        print(f"the loopback limit: vdif-send alone ({args.sender_processes} process"
              f"{'es' if args.sender_processes > 1 else ''}), 3 s per step", file=sys.stderr)
        args.max_gbps = highest_lossless(lambda g: run_ours(g, 3.0, PAYLOAD + 32, args.sender_processes)[0],
                                         0.0, 32.0, 6) or 8.0
        print(f"  searching the recorders up to {args.max_gbps:.2f} Gbit/s", file=sys.stderr)
    try:
        with loop_disks(args.disks, args.disk_size) if root else plain_directories(args.disks) as disks, \
                tempfile.TemporaryDirectory(prefix="bench-recorder-logs-") as logs:
            for backend in backends:
                results.append(measure(backend, disks, args, Path(logs)))
    finally:
        restore(saved)
    document = {"frame_bytes": PAYLOAD + 32, "datagram_bytes": PAYLOAD + 40, "seconds": args.seconds,
                "sender_processes": args.sender_processes,
                "loopback_limit_gbps": args.max_gbps,
                "repeats": args.repeats, "disks": f"{args.disks} x XFS loop (direct I/O)" if root else "directories",
                "results": results}
    if args.json:
        print(json.dumps(document, indent=2))
    print("recorder benchmark (highest lossless rate, udps 8232-byte datagrams over loopback):", file=sys.stderr)
    for entry in results:
        figure = f"{entry['highest_lossless_gbps']:.2f} Gbit/s" if "highest_lossless_gbps" in entry else entry["error"]
        print(f"  {entry['backend']:10s} {entry.get('version', ''):22s} {figure}", file=sys.stderr)
        if "limit" in entry:
            print(f"             limited by {entry['limit']}", file=sys.stderr)
            for when in ("profile_at_best", "profile_at_first_loss"):
                if entry.get(when):
                    p = entry[when]
                    print(f"             {when.removeprefix('profile_').replace('_', ' ')}: recorder "
                          f"{p['recorder_cpu_pct']:.0f} % CPU (busiest thread {p['busiest_thread']} "
                          f"{p['busiest_thread_pct']:.0f} %), machine {p['machine_cpu_pct']:.0f} %, "
                          f"{p['rcvbuf_errors']} RcvbufErrors, disks {p['disk_mb_per_s']:.0f} MB/s", file=sys.stderr)
    if not args.jive5ab_bin:
        print("  jive5ab    not measured: set JIVE5AB_BIN to a jive5ab binary", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
