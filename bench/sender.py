"""Sender benchmark: vdif-send's highest lossless rate over loopback vs iperf3 at the same datagram size.

Run: ``.venv/bin/python -m bench.sender [--seconds 3] [--frame-bytes 8224] [--processes 2]`` (as root: the
socket buffer limits are raised for the run and restored afterwards, and the receiver is an nftables counter).
Installs iperf3 from Debian if missing. Both senders are received the same way, by the kernel: a rule in the
loopback input hook counts and drops their datagrams before any socket (bench/kernel_count.py), so neither is
capped by a receiver. Prints both highest lossless rates and their ratio; with --processes N also vdif-send's
with its threads over N processes, against one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.arguments import positive_float, positive_int
from bench.kernel_count import KernelCount
from harness.arguments import OneLineParser
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parent.parent
SYSCTLS = {"net.core.rmem_max": 201326592, "net.core.wmem_max": 201326592}


def raise_socket_limits() -> dict[str, str]:
    saved = {}
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            saved[key] = path.read_text().strip()
            if int(saved[key]) < value:
                path.write_text(str(value))
        except (OSError, ValueError):
            print(f"bench: cannot raise {key} (not root?); figures may be lower", file=sys.stderr)
    return saved


def restore(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        (Path("/proc/sys") / key.replace(".", "/")).write_text(value)


def frame_bytes(text: str) -> int:
    """A VDIF frame (32-byte header) whose udps datagram fits a 9000-byte MTU."""
    value = positive_int(text)
    if not 40 <= value <= 8960 or value % 8:
        raise argparse.ArgumentTypeError(f"{value} is not a frame size: a multiple of 8 in 40..8960")
    return value


def run_ours(gbps: float, seconds: float, frame_bytes: int, processes: int = 1) -> tuple[bool, float]:
    """One paced run at ``gbps``, received by the kernel's counter; (lossless and on time, received Gbit/s)."""
    port = free_udp_port()
    datagram = frame_bytes + 8
    threads = max(processes, 1)
    fps = max(1, round(gbps * 1e9 / 8 / datagram / threads))
    with KernelCount(port, datagram) as count:
        sender = subprocess.run([sys.executable, "-m", "harness.sender", "--dest", "127.0.0.1", "--port", str(port),
                                 "--fps", str(fps), "--threads", str(threads), "--processes", str(processes),
                                 "--payload-bytes", str(frame_bytes - 32), "--udps", "--duration", str(seconds),
                                 "--json"], cwd=ROOT, capture_output=True, text=True)
        received = count.datagrams()
    if sender.returncode != 0:
        raise SystemExit(f"bench: vdif-send failed: {sender.stderr.strip()[-300:]}")
    sent = json.loads(sender.stdout)
    # lossless, and on time: a sender that falls behind its schedule has not reached the rate
    kept_up = sent["achieved_gbps"] >= 0.999 * sent["target_gbps"] and sent["worst_second_error_pct"] < 0.1
    lossless = received == sent["frames_sent"] and sent["send_failed"] == 0 and kept_up
    return lossless, received * datagram * 8 / 1e9 / sent["elapsed_s"]


def run_iperf(gbps: float | None, seconds: float, datagram: int) -> tuple[float, float, float]:
    """(sent Gbit/s, received Gbit/s, lost %) of one iperf3 UDP run, received by the kernel's counter (iperf3's
    server takes only the handshake and the control connection); gbps None = unlimited."""
    port = free_udp_port()
    with KernelCount(port, datagram) as count:
        server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port), "-B", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            result = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-u", "-l", str(datagram),
                                     "-b", "0" if gbps is None else f"{gbps * 1e9:.0f}", "-t", str(seconds),
                                     "-w", "64M", "--json"], capture_output=True, text=True, timeout=seconds + 30)
            summary = json.loads(result.stdout)["end"]["sum"]
        finally:
            server.wait(timeout=10)
        received = count.datagrams()
    sent = summary["bytes"] * 8 / 1e9 / summary["seconds"]
    packets = int(summary["packets"])
    lost = 100.0 * (packets - received) / max(packets, 1)
    return sent, received * datagram * 8 / 1e9 / summary["seconds"], lost


def iperf_reaches(gbps: float, seconds: float, datagram: int) -> bool:
    sent, _, lost = run_iperf(gbps, seconds, datagram)
    return lost == 0.0 and sent >= 0.99 * gbps


def highest_lossless(probe, low: float, high: float, steps: int) -> float:  # type: ignore[no-untyped-def]
    """Binary search on rate; a step passes only if every repeat is lossless."""
    best = 0.0
    for _ in range(steps):
        mid = (low + high) / 2
        if probe(mid):
            best, low = mid, mid
        else:
            high = mid
        print(f"  {mid:6.2f} Gbit/s: {'lossless' if best == mid else 'loss'}", file=sys.stderr)
    return best


def main() -> int:
    parser = OneLineParser(prog="bench.sender", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=positive_float, default=3.0)
    parser.add_argument("--frame-bytes", type=frame_bytes, default=8224)
    parser.add_argument("--steps", type=positive_int, default=6)
    parser.add_argument("--repeats", type=positive_int, default=2,
                        help="runs per step, every one lossless to pass (default 2): this VM's load moves")
    parser.add_argument("--max-gbps", type=positive_float, default=32.0)
    parser.add_argument("--processes", type=positive_int, default=1,
                        help="also measure vdif-send --processes N (its threads over N processes) against one")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts/ensure-debian-packages"), "iperf3"], check=True)
    if not shutil.which("iperf3"):
        print("bench: iperf3 is not installed and cannot be", file=sys.stderr)
        return 2
    saved = raise_socket_limits()
    datagram = args.frame_bytes + 8
    try:
        print(f"vdif-send, {args.frame_bytes}-byte frames + 8-byte sequence number, {args.seconds:g} s per step:",
              file=sys.stderr)
        def repeated(probe: Callable[[float], bool]) -> Callable[[float], bool]:
            return lambda g: all(probe(g) for _ in range(args.repeats))

        ours = highest_lossless(repeated(lambda g: run_ours(g, args.seconds, args.frame_bytes)[0]), 0.0,
                                args.max_gbps, args.steps)
        split = None
        if args.processes > 1:
            print(f"vdif-send --processes {args.processes} ({args.processes} threads), same steps:", file=sys.stderr)
            split = highest_lossless(repeated(lambda g: run_ours(g, args.seconds, args.frame_bytes, args.processes)[0]),
                                     0.0, args.max_gbps, args.steps)
        print(f"iperf3 -u -l {datagram}, same steps:", file=sys.stderr)
        iperf = highest_lossless(repeated(lambda g: iperf_reaches(g, args.seconds, datagram)), 0.0, args.max_gbps,
                                 args.steps)
        flat_sent, flat_received, flat_lost = run_iperf(None, args.seconds, datagram)
    finally:
        restore(saved)
    print(f"{'':32}{'vdif-send':>12}{'iperf3':>12}{'ratio':>8}")
    print(f"{'highest lossless rate (Gbit/s)':32}{ours:12.2f}{iperf:12.2f}{ours / max(iperf, 1e-9):8.2f}")
    if split is not None:
        print(f"{f'vdif-send --processes {args.processes}':32}{split:12.2f}{'':12}{split / max(ours, 1e-9):8.2f}"
              "  (against one process)")
    print(f"iperf3 unlimited (-b 0): {flat_sent:.2f} Gbit/s sent, {flat_received:.2f} received, {flat_lost:.1f} % lost")
    print("(both received by the kernel: an nftables counter in the loopback input hook, bench/kernel_count.py)")
    print(f"(search resolution {args.max_gbps / 2 ** args.steps:.2f} Gbit/s, {args.repeats} runs per step; "
          f"{args.frame_bytes}-byte frames, "
          f"{datagram}-byte datagrams over loopback)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
