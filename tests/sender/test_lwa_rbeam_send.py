"""vdif-send --format lwa_rbeam: its datagrams over loopback (every server's packet per sequence step, paced at
the sequence clock), its refusals, and end to end through the reference recorder recording raw packets to a
scan the LWA RBeam checker finds whole (sender -> recorder -> disk -> checker, 2 s at 18 Mbit/s)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest

from harness.checker import Expectation, check_files, check_scan
from harness.formats.lwa_rbeam.stream import LwaRbeamGenerator, LwaRbeamStreamSpec
from harness.formats.lwa_rbeam.timecode import SEQ_TIME, seq_at
from harness.recorder import RecorderConfig, open_recorder
from tests.conftest import free_udp_port
from tests.recorder.conftest import drained, plain_disks

SEND = [sys.executable, "-m", "harness.sender"]
NCHAN = 4
PACKET = 16 + NCHAN * 8
SERVERS = (1, 2)
SPEC = LwaRbeamStreamSpec(nchan=NCHAN, servers=SERVERS, chan0=100)
EXPECT = Expectation(format="lwa_rbeam", payload="pattern", threads=SERVERS, nchan=NCHAN,
                     header_values=(("chan0", 100),))


def later_start() -> Fraction:
    """A sequence step a second ahead, so a slow process start does not begin with a burst to catch up."""
    return math.ceil((time.time() + 1.0) / SEQ_TIME) * SEQ_TIME


def sender(port: int, *args: str) -> list[str]:
    return [*SEND, "--dest", "127.0.0.1", "--port", str(port), "--format", "lwa_rbeam", "--json", *args]


def test_datagrams_are_every_servers_packet_per_step_paced_at_the_sequence_clock(tmp_path):
    steps, start = 4000, later_start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        run = subprocess.Popen(sender(sock.getsockname()[1], "--channels", str(NCHAN), "--threads", "2", "--chan0",
                                      "100", "--frames", str(steps), "--start-time",
                                      f"{start.numerator}/{start.denominator}"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rows = np.zeros((steps * 2, PACKET), dtype=np.uint8)
        sock.settimeout(10)
        for i in range(steps * 2):
            assert sock.recv_into(memoryview(rows[i])) == PACKET
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    stats = json.loads(out)
    assert stats["frames_sent"] == steps * 2 and stats["threads"] == {"1": {"frames": steps, "bytes": steps * PACKET},
                                                                     "2": {"frames": steps, "bytes": steps * PACKET}}
    assert stats["target_fps_per_thread"] == pytest.approx(196e6 / 8192)
    assert stats["schedule_end_posix"] == pytest.approx(float(start + steps * SEQ_TIME))
    expected = LwaRbeamGenerator(SPEC, start).batch(0, steps)
    np.testing.assert_array_equal(rows, expected)
    assert int.from_bytes(rows[0, 8:16].tobytes(), "big") == seq_at(start)  # the first packet's time is the start
    path = tmp_path / "received.rbeam"
    rows.tofile(path)
    result = check_files([path], EXPECT)
    assert result.clean and result.frame_counts.frames == steps * 2


@pytest.mark.parametrize(("args", "reason"), [
    (["--channels", "4", "--fps", "100"], "--fps: not for an LWA RBeam stream"),
    (["--channels", "4", "--udps"], "--udps: not for an LWA RBeam stream"),
    (["--frames", "1"], "give the channels per packet: --channels N"),
    (["--channels", "4", "--processes", "2", "--threads", "2"], "--processes needs a VDIF stream"),
])
def test_refusals_are_one_line_exit_2(args, reason):
    run = subprocess.run(sender(9, *args), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and reason in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr


def test_end_to_end_through_the_reference_recorder_with_no_loss(tmp_path):
    """2 s of two servers' 48-byte packets (47 852 packets/s, 18 Mbit/s) as plain UDP to the reference recorder,
    recorded raw as a vbs scan on plain directories; the scan is the packets sent, and the LWA RBeam checker
    finds none lost. The reference recorder has no LWA mode: it is given the VDIF mode whose frame is one
    packet (48 bytes: VDIF_16), all it uses the mode for here, and a work buffer of whole packets."""
    steps = 2 * 23926
    disks = plain_disks(tmp_path)
    port = free_udp_port()
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M",
                       mounts=[str(tmp_path / "disk*")]) as recorder:
        recorder.configure(RecorderConfig(mode="VDIF_16-3.2-1-2", protocol="pudp", socket_buffer="8M",
                                          workbuf=21845 * PACKET, nbuf=4, mtu=9000, data_port=port,
                                          disks=[str(d) for d in disks], frame_bytes=PACKET))
        scan = recorder.record_on("lwa_e2e")
        start = later_start()
        run = subprocess.run(sender(port, "--channels", str(NCHAN), "--threads", "2", "--chan0", "100", "--frames",
                                    str(steps), "--start-time", f"{start.numerator}/{start.denominator}"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        drained(recorder, port)
        result = recorder.record_off()
    assert (result.packets, result.lost) == (steps * 2, 0)
    assert result.bytes == steps * 2 * PACKET
    recorded = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in result.files]).reshape(-1, PACKET)
    np.testing.assert_array_equal(recorded, LwaRbeamGenerator(SPEC, start).batch(0, steps))
    check = check_scan(scan, str(tmp_path / "disk*"), Expectation(**{**EXPECT.__dict__,
                                                                     "expected_frames": steps * 2}))
    assert check.clean, check.findings
    c = check.frame_counts
    assert (c.frames, c.missing_frames, c.duplicate_frames, c.corrupt_headers, c.payload_errors) == (
        steps * 2, 0, 0, 0, 0)


def test_packets_dropped_on_purpose_are_each_one_missing_frame(tmp_path):
    """vdif-send --drop-every 101 leaves out every 101st packet (its schedule slot used up): through the reference
    recorder configured as a scenario configures it for RBeam (harness/scenario/stream_format.py), the checker
    counts exactly the packets the sender left out as missing, and nothing else."""
    from harness.scenario.stream_format import recorder_frame, whole_frame_workbuf

    steps = 20000
    frame = recorder_frame(SPEC)
    disks = plain_disks(tmp_path)
    port = free_udp_port()
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M",
                       mounts=[str(tmp_path / "disk*")]) as recorder:
        recorder.configure(RecorderConfig(mode=frame.mode, protocol="pudp", socket_buffer="8M",
                                          workbuf=whole_frame_workbuf(frame, 1 << 20, 1 << 20), nbuf=4, mtu=9000,
                                          data_port=port, disks=[str(d) for d in disks],
                                          frame_bytes=frame.datagram_payload))
        scan = recorder.record_on("lwa_drop")
        start = later_start()
        run = subprocess.run(sender(port, "--channels", str(NCHAN), "--threads", "2", "--chan0", "100", "--frames",
                                    str(steps), "--drop-every", "101", "--start-time",
                                    f"{start.numerator}/{start.denominator}"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        drained(recorder, port)
        result = recorder.record_off()
    stats = json.loads(run.stdout)
    dropped = stats["dropped_on_purpose"]
    assert dropped == steps * 2 // 101 and stats["frames_sent"] == steps * 2 - dropped
    assert (result.packets, result.lost) == (steps * 2 - dropped, 0)
    check = check_scan(scan, str(tmp_path / "disk*"), Expectation(**{**EXPECT.__dict__,
                                                                     "expected_frames": steps * 2}))
    c = check.frame_counts
    assert (c.frames, c.valid_frames, c.missing_frames) == (steps * 2 - dropped, steps * 2 - dropped, dropped)
    assert (c.duplicate_frames, c.out_of_order_frames, c.corrupt_headers, c.payload_errors) == (0, 0, 0, 0)
    assert {f.kind for f in check.findings} == {"missing_frames", "frame_count"}  # (frame_count: short of expected)
