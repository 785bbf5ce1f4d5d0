"""Every count threshold breached end to end on loopback: real datagrams to the reference recorder, the real
checker over what it wrote, the engine's judging, results.json and the failing pytest items.

Two paths, each the least contrived that produces the counts for real:
- the CBF path (an external stream): this test is the CBF. It sends a short burst of the declared stream with
  one frame never sent, one marked invalid, one sent twice, two swapped and one with a damaged header; a real
  CBF's scan loses its missing and invalid frames. (An external stream's payload is not checked.)
- the harness path (vdif-send, pattern payload): while the sender runs, this test sends a copy of a frame
  already sent with one payload byte damaged, as a corrupted retransmission would arrive: a duplicate and a
  payload error.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from harness.formats.vdif.header import station_id
from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from tests.conftest import free_udp_port
from tests.scenario.test_run_engine import latest_results
from tests.waiting import wait_until

CBF = StreamSpec(fps=1000, payload_bytes=1000, threads=(0, 1, 2, 3), station=station_id("Mk"))
SLOW = StreamSpec(fps=100, payload_bytes=1000, threads=(0, 1, 2, 3), station=station_id("Mk"))
"""At 100 frames/s the checker's reorder window (64 frames) spans 0.64 s: a copy sent 0.3 s after its frame is a
duplicate wherever it lands (further back it would read as a damaged time field)."""
SCENARIO = """\
name: {name}
stream:
  source: {source}
  payload_bytes: 1000
  threads: 4
  fps: {fps}
  station: Mk
  payload: pattern
  udps: false
  port: {port}
recorder:
  backend: reference
  workbuf: 1M
schedule:
  scans: 1
  scan_length: 3s
  capture_tolerance: 10s
metrics_period: 0.25s
"""
"""No threshold given: every count's limit is its default, 0. The capture tolerance covers the whole scan: the
test's CBF sends a burst, not the whole window."""


def start_run(tmp_path: Path, name: str, source: str, spec: StreamSpec) -> tuple[subprocess.Popen[str], int]:
    port = free_udp_port()
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(name=name, source=source, port=port, fps=spec.fps))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
         "--reports", str(tmp_path / "reports")], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path)})
    return process, port


def samples(tmp_path: Path) -> list[dict[str, Any]]:
    metrics = tmp_path / "reports" / "latest" / "metrics.jsonl"
    if not metrics.exists():
        return []
    return [json.loads(line) for line in metrics.read_text().splitlines() if line.endswith("}")]


def send(port: int, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i, datagram in enumerate(datagrams):
            sock.sendto(datagram, ("127.0.0.1", port))
            if i % 16 == 15:
                time.sleep(0.001)  # the recorder keeps up on a busy machine


def failure_line(out: str, start: str) -> str:
    """The rest of the pytest item's one-line failure that starts so, up to the results folder it names."""
    (line,) = [line for line in out.splitlines() if line.startswith(start)]
    return line[len(start):].split(" (results in ")[0]


def flip(frame: bytes, word: int, bit: int) -> bytes:
    """The frame with one bit of one 32-bit word (header words 0..7, then payload) inverted."""
    out = bytearray(frame)
    (value,) = struct.unpack_from("<I", out, 4 * word)
    struct.pack_into("<I", out, 4 * word, value ^ (1 << bit))
    return bytes(out)


def damaged_burst(start: Fraction, per_thread: int = 50) -> list[bytes]:
    """``per_thread`` frames of each thread from ``start``, in the CBF's order, with one fault of each kind."""
    frames = [bytes(f) for f in FrameGenerator(CBF, start).batch(0, per_thread)]

    def at(thread: int, k: int) -> int:
        return 4 * k + thread

    burst = list(frames)
    burst[at(1, 10)] = flip(frames[at(1, 10)], 0, 31)  # thread 1's frame 10 marked invalid by its source
    burst[at(0, 20)] = flip(frames[at(0, 20)], 2, 29)  # thread 0's frame 20: a version bit set
    burst[at(3, 10)], burst[at(3, 11)] = frames[at(3, 11)], frames[at(3, 10)]  # thread 3's 10 and 11 swapped
    burst.insert(at(2, 10) + 1, frames[at(2, 10)])  # thread 2's frame 10 twice
    del burst[at(0, 10)]  # thread 0's frame 10 never sent
    return burst


def test_a_cbf_streams_faults_breach_each_count_threshold_they_touch(tmp_path):
    process, port = start_run(tmp_path, "cbf", "external", CBF)
    wait_until(lambda: any(s.get("scan") == "cbf_001" for s in samples(tmp_path)), timeout=120,
               what="the scan to be recording")
    send(port, damaged_burst(Fraction(math.ceil(time.time()))))
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 1, out[-3000:]
    scan_line = ("scan cbf_001: lost_frames 2 > 0; invalid_frames 1 > 0; duplicate_frames 1 > 0; "
                 "out_of_order_frames 1 > 0; corrupt_headers 1 > 0")
    assert "FAILED cbf.yaml::cbf_001" in out and scan_line in out.splitlines(), out[-3000:]
    assert failure_line(out, "cbf: thresholds breached: ") == (
        "lost_frames 2 (limit <= 0 frames); invalid_frames 1 (limit <= 0 frames); duplicate_frames 1 (limit <= 0 "
        "frames); out_of_order_frames 1 (limit <= 0 frames); corrupt_headers 1 (limit <= 0 frames)")
    results = latest_results(tmp_path)
    assert results["verdict"] == "fail"
    assert results["breached"] == ["lost_frames", "invalid_frames", "duplicate_frames", "out_of_order_frames",
                                   "corrupt_headers"]
    (scan,) = results["scans"]
    assert scan["frames_sent"] is None and scan["problems"] == [] and not scan["passed"]
    assert {k: scan[k] for k in ("frames", "valid_frames", "lost_frames", "invalid_frames", "missing_frames",
                                 "duplicate_frames", "out_of_order_frames", "payload_errors", "corrupt_headers")} \
        == {"frames": 200, "valid_frames": 199, "lost_frames": 2, "invalid_frames": 1, "missing_frames": 1,
            "duplicate_frames": 1, "out_of_order_frames": 1, "payload_errors": 0, "corrupt_headers": 1}
    assert scan["check"]["counts"] == {"missing_frames": 1, "invalid_frames": 1, "duplicate_frames": 1,
                                       "out_of_order_frames": 1, "corrupt_headers": 1}
    threads = scan["check"]["threads"]
    assert [threads[t]["missing_frames"] for t in "0123"] == [1, 0, 0, 0]
    assert [threads[t]["corrupt_headers"] for t in "0123"] == [1, 0, 0, 0]
    assert [threads[t]["invalid_frames"] for t in "0123"] == [0, 1, 0, 0]
    assert [threads[t]["duplicate_frames"] for t in "0123"] == [0, 0, 1, 0]
    assert [threads[t]["out_of_order_frames"] for t in "0123"] == [0, 0, 0, 1]


def test_a_damaged_copy_of_a_sent_frame_breaches_payload_errors_and_duplicate_frames(tmp_path):
    process, port = start_run(tmp_path, "copy", "harness", SLOW)
    half_a_second = 2 * SLOW.fps  # of the 4 threads' frames
    wait_until(lambda: any((s.get("sender") or {}).get("frames", 0) >= half_a_second for s in samples(tmp_path)),
               timeout=120, what="the sender to have sent half a second")
    # vdif-send paces its frames to their times: the frame of 0.3 s ago has been sent
    sent = Fraction(math.floor((time.time() - 0.3) * SLOW.fps), SLOW.fps)
    frame = bytes(FrameGenerator(SLOW, sent).batch(0, 1)[1])  # thread 1's
    send(port, [flip(frame, 8 + 40, 3)])  # one bit of its payload's 41st 32-bit word
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 1, out[-3000:]
    results = latest_results(tmp_path)
    (scan,) = results["scans"]
    sent = scan["frames_sent"]
    # the checker was told the frames sent: one more recorded is a finding of the stream, named after the breaches
    assert "FAILED copy.yaml::copy_001" in out, out[-3000:]
    assert (f"scan copy_001: duplicate_frames 1 > 0; payload_errors 1 > 0; frame_count: {sent + 1} frames where "
            f"{sent} were expected (1 more)") in out.splitlines(), out[-3000:]
    assert failure_line(out, "copy: thresholds breached: ") == (
        "duplicate_frames 1 (limit <= 0 frames); payload_errors 1 (limit <= 0 frames)")
    assert results["verdict"] == "fail" and results["breached"] == ["duplicate_frames", "payload_errors"]
    assert (scan["lost_frames"], scan["duplicate_frames"], scan["payload_errors"]) == (0, 1, 1)
    assert scan["frames"] == scan["frames_sent"] + 1 and scan["valid_frames"] == scan["frames_sent"] + 1
    (error,) = [f for f in scan["check"]["findings"] if f["kind"] == "payload_errors"]
    assert error["thread"] == 1
    assert error["detail"] == "payload differs from the pattern sent, first at payload byte 160"
