"""vdif-send --format lofar_cep: four RSP lanes, each to its own UDP port (--port + k) with its own beamlets,
received with plain sockets over loopback (counts, ports, beamlet ranges, pacing at the sample clock's packet
rate); its refusals; and end to end per port through four reference recorders, one per port, recording raw
packets to scans the LOFAR CEP checker finds whole, with no loss and with --drop-every counted exactly per port
(sender -> recorder -> disk -> checker, 19 Mbit/s over the four ports)."""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from harness.checker import Expectation, check_files, check_scan
from harness.formats.lofar_cep.stream import LofarCepGenerator, LofarCepStreamSpec
from harness.recorder import RecorderConfig, open_recorder
from harness.scenario.stream_format import recorder_frame, whole_frame_workbuf
from tests.recorder.conftest import drained

SEND = [sys.executable, "-m", "harness.sender"]
STATION = 613
HEADER = "<BBBBHBBII"


def spec_of(bits: int, beamlets: int, clock: int, first: tuple[int, ...] | None = None) -> LofarCepStreamSpec:
    return LofarCepStreamSpec(station=STATION, bits=bits, beamlets=beamlets, clock_mhz=clock, first_beamlets=first)


def expectation(spec: LofarCepStreamSpec, lane: int, frames: int | None = None) -> Expectation:
    return Expectation(format="lofar_cep", payload="pattern", threads=(lane,), bits=spec.bits, expected_frames=frames,
                       header_values=(("station", STATION), ("beamlets", spec.beamlets), ("slices", spec.slices)))


def later_start(spec: LofarCepStreamSpec) -> Fraction:
    """A packet a second ahead, so a slow process start does not begin with a burst to catch up."""
    return math.ceil((time.time() + 1.0) * spec.fps) / spec.fps


@contextlib.contextmanager
def four_ports() -> Iterator[list[socket.socket]]:
    """Four bound UDP sockets on consecutive loopback ports (the sender's --port P gives P..P+3)."""
    for _ in range(100):
        socks: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(first)
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
            if base + 3 > 65535:
                raise OSError("no room above")
            for k in range(1, 4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", base + k))
        except OSError:
            for sock in socks:
                sock.close()
            continue
        try:
            yield socks
        finally:
            for sock in socks:
                sock.close()
        return
    raise AssertionError("no four consecutive free UDP ports on 127.0.0.1")


def free_base_port() -> int:
    with four_ports() as socks:
        return int(socks[0].getsockname()[1])


def sender(port: int, spec: LofarCepStreamSpec, *args: str) -> list[str]:
    return [*SEND, "--dest", "127.0.0.1", "--port", str(port), "--format", "lofar_cep", "--json", "--station",
            str(STATION), "--bits", str(spec.bits), "--beamlets", str(spec.beamlets), "--clock", str(spec.clock_mhz),
            *args]


def test_four_lanes_each_to_its_port_with_its_beamlets_paced_at_the_packet_clock(tmp_path):
    spec = spec_of(4, 2, 160, (10, 20, 30, 40))
    steps, start = 4000, later_start(spec)
    size = spec.frame_bytes
    received = [np.zeros((steps, size), dtype=np.uint8) for _ in range(4)]
    counts = [0] * 4
    arrival = [[0.0, 0.0] for _ in range(4)]
    with four_ports() as socks:
        base = socks[0].getsockname()[1]
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setblocking(False)
        run = subprocess.Popen(sender(base, spec, "--first-beamlets", "10,20,30,40", "--frames", str(steps),
                                      "--start-time", f"{start.numerator}/{start.denominator}"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while sum(counts) < 4 * steps and time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 1.0)
            for sock in ready:
                k = socks.index(sock)
                with contextlib.suppress(BlockingIOError):
                    while counts[k] < steps:
                        assert sock.recv_into(memoryview(received[k][counts[k]])) == size
                        arrival[k][counts[k] > 0] = time.time()
                        counts[k] += 1
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert counts == [steps] * 4
    stats = json.loads(out)
    fps = Fraction(160_000_000, 1024 * 16)
    assert stats["target_fps_per_thread"] == pytest.approx(float(fps)) == 9765.625
    assert stats["schedule_end_posix"] == pytest.approx(float(start + steps / fps))
    assert stats["ports"] == {str(base + k): {
        "rsp_id": k, "beamlets": [10 * (k + 1), 10 * (k + 1) + 1], "frames": steps, "bytes": steps * size,
        "frames_scheduled": steps, "send_failed": 0, "left_out": 0, "skipped": False} for k in range(4)}
    expected = LofarCepGenerator(spec, start).batch(0, steps)
    for k in range(4):
        np.testing.assert_array_equal(received[k], expected[k::4])  # port base + k has lane k's packets alone
        version, source, mode, _, station, beamlets, slices, _, _ = struct.unpack_from(HEADER, received[k][0])
        assert (version, source & 0x1F, source >> 7, mode, station, beamlets, slices) == (3, k, 0, 2, STATION, 2, 16)
        first, last = arrival[k]
        assert first >= float(start) - 0.005  # not before its time
        assert last >= float(start + (steps - 1) / fps) - 0.005  # the last packet not early: paced, not a burst
        path = tmp_path / f"port{k}.cep"
        received[k].tofile(path)
        result = check_files([path], expectation(spec, k, steps))
        assert result.clean, result.findings
        assert result.frame_counts.frames == steps and list(result.threads) == [k]


@pytest.mark.parametrize(("args", "reason"), [
    (["--beamlets", "2", "--fps", "100"], "--fps: not for a LOFAR CEP stream"),
    (["--beamlets", "2", "--udps"], "--udps: not for a LOFAR CEP stream"),
    (["--beamlets", "2", "--threads", "2"], "--threads: not for a LOFAR CEP stream"),
    (["--frames", "1"], "give the beamlets per packet: --beamlets N"),
    (["--beamlets", "123", "--bits", "8"], "a lane holds 1..122 at 8 bits"),
    (["--beamlets", "2", "--bits", "2"], "LOFAR CEP has 4, 8 or 16"),
    (["--beamlets", "2", "--clock", "100"], "200 or 160"),
    (["--beamlets", "2", "--lanes", "5"], "--lanes 5: a station has 1 to 4 RSP lanes"),
    (["--beamlets", "2", "--first-beamlets", "0,1"], "one per lane (4)"),
    (["--beamlets", "2", "--first-beamlets", "0,x"], "--first-beamlets '0,x'"),
    (["--beamlets", "2", "--processes", "2"], "--processes needs a VDIF stream"),
])
def test_refusals_are_one_line_exit_2(args, reason):
    run = subprocess.run([*SEND, "--dest", "127.0.0.1", "--port", "9", "--format", "lofar_cep", *args],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and reason in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr


def test_lofar_options_are_refused_for_other_formats():
    run = subprocess.run([*SEND, "--dest", "127.0.0.1", "--port", "9", "--fps", "10", "--beamlets", "4"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--beamlets: only for a LOFAR CEP stream" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def record_four_ports(tmp_path, spec: LofarCepStreamSpec, steps: int, *extra: str):
    """The four lanes sent to four reference recorders (one per port, each its own disks and scan), configured
    as a scenario configures one for a raw stream (harness/scenario/stream_format.py); (sender JSON, recorder
    results, per-lane scan names and disk globs)."""
    lane_spec = LofarCepStreamSpec(station=STATION, bits=spec.bits, beamlets=spec.beamlets, rsp_ids=(0,))
    frame = recorder_frame(lane_spec)  # type: ignore[arg-type]  # (duck-typed) one lane: its datagrams per second
    base = free_base_port()
    with contextlib.ExitStack() as stack:
        recorders, scans, globs = [], [], []
        for k in range(4):
            root = tmp_path / f"port{k}"
            disks = [root / "disk0", root / "disk1"]
            for disk in disks:
                disk.mkdir(parents=True)
            recorder = stack.enter_context(open_recorder("reference", log_dir=root / "logs", block_size="1M",
                                                         mounts=[str(root / "disk*")]))
            recorder.configure(RecorderConfig(mode=frame.mode, protocol="pudp", socket_buffer="8M",
                                              workbuf=whole_frame_workbuf(frame, 1 << 20, 1 << 20), nbuf=4,
                                              mtu=9000, data_port=base + k, disks=[str(d) for d in disks],
                                              frame_bytes=frame.datagram_payload))
            scans.append(recorder.record_on(f"lofar_port{k}"))
            recorders.append(recorder)
            globs.append(str(root / "disk*"))
        start = later_start(spec)
        run = subprocess.run(sender(base, spec, "--frames", str(steps), "--start-time",
                                    f"{start.numerator}/{start.denominator}", *extra),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        results = []
        for k, recorder in enumerate(recorders):
            drained(recorder, base + k)
            results.append(recorder.record_off())
    return json.loads(run.stdout), results, scans, globs, start, base


def test_end_to_end_per_port_through_the_reference_recorder_with_no_loss(tmp_path):
    """2 s of four lanes of 48-byte packets (4 x 12 207 packets/s, 19 Mbit/s), each port recorded by its own
    reference recorder as a vbs scan; each scan is its lane's packets, and the checker finds none lost."""
    spec = spec_of(4, 1, 200)
    steps = 2 * 12208
    stats, results, scans, globs, start, base = record_four_ports(tmp_path, spec, steps)
    expected = LofarCepGenerator(spec, start).batch(0, steps)
    for k in range(4):
        assert (results[k].packets, results[k].lost) == (steps, 0)
        recorded = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in results[k].files])
        np.testing.assert_array_equal(recorded.reshape(-1, spec.frame_bytes), expected[k::4])
        check = check_scan(scans[k], globs[k], expectation(spec, k, steps))
        assert check.clean, check.findings
        c = check.frame_counts
        assert (c.frames, c.missing_frames, c.duplicate_frames, c.corrupt_headers, c.payload_errors) == (
            steps, 0, 0, 0, 0)
        assert stats["ports"][str(base + k)]["frames"] == steps


def test_packets_dropped_on_purpose_are_each_one_missing_frame_on_their_port(tmp_path):
    """--drop-every 101 over the stream (datagram n, step-major over the four lanes, is left out when n % 101 is
    100; lane n % 4): each port's checker counts exactly its lane's left-out packets as missing, nothing else."""
    spec = spec_of(4, 1, 200)
    steps = 10000
    numbers = np.arange(4 * steps)
    dropped = numbers[numbers % 101 == 100]
    per_lane = [int((dropped % 4 == k).sum()) for k in range(4)]
    assert not set(dropped // 4) & {0, steps - 1}  # none at a lane's ends: each one is a gap, not a short scan
    assert sum(per_lane) == 4 * steps // 101 and min(per_lane) > 0
    stats, results, scans, globs, _, base = record_four_ports(tmp_path, spec, steps, "--drop-every", "101")
    assert stats["dropped_on_purpose"] == sum(per_lane)
    for k in range(4):
        port = stats["ports"][str(base + k)]
        assert (port["frames"], port["left_out"]) == (steps - per_lane[k], per_lane[k])
        assert (results[k].packets, results[k].lost) == (steps - per_lane[k], 0)
        check = check_scan(scans[k], globs[k], expectation(spec, k, steps))
        c = check.frame_counts
        assert (c.frames, c.valid_frames, c.missing_frames) == (steps - per_lane[k],) * 2 + (per_lane[k],)
        assert (c.duplicate_frames, c.out_of_order_frames, c.corrupt_headers, c.payload_errors) == (0, 0, 0, 0)
        assert {f.kind for f in check.findings} == {"missing_frames", "frame_count"}


def test_a_skipped_lane_never_comes_and_the_others_keep_their_ports():
    """--skip-thread 2: RSP lane 2's port gets nothing, the other three their packets (a dead RSP board)."""
    spec = spec_of(4, 1, 200)
    steps, start = 100, later_start(spec)  # few enough to wait in each socket's default receive buffer
    with four_ports() as socks:
        base = socks[0].getsockname()[1]
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        run = subprocess.run(sender(base, spec, "--frames", str(steps), "--skip-thread", "2", "--start-time",
                                    f"{start.numerator}/{start.denominator}"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        counts = []
        for sock in socks:
            sock.setblocking(False)
            n = 0
            with contextlib.suppress(BlockingIOError):
                while sock.recv(2048):
                    n += 1
            counts.append(n)
    assert counts == [steps, steps, 0, steps]
    ports = json.loads(run.stdout)["ports"]
    assert [(p["frames"], p["left_out"], p["skipped"]) for p in ports.values()] == [
        (steps, 0, False), (steps, 0, False), (0, steps, True), (steps, 0, False)]
