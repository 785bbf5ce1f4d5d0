"""vdif-send --format mark5b: its datagrams over loopback (parts of frames, UDPS sequence numbers, the frames
they make up), its refusals, and end to end through the reference recorder to a scan the Mark5B checker
finds whole (sender -> recorder -> disk -> checker, a few seconds at 8 Mbit/s)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from harness.checker import Expectation, check_files, check_scan
from harness.formats.mark5b.stream import Mark5bGenerator, Mark5bStreamSpec
from harness.formats.vdif.header import station_id
from harness.recorder import RecorderConfig, open_recorder
from tests.conftest import free_udp_port
from tests.recorder.conftest import drained, plain_disks

SEND = [sys.executable, "-m", "harness.sender"]
FPS = 100
FRAME = 10016


def later_start(fps: int) -> Fraction:
    """A start a second ahead, so a slow process start does not begin with a burst to catch up."""
    return Fraction(math.ceil((time.time() + 1.0) * fps), fps)


def sender(port: int, *args: str) -> list[str]:
    return [*SEND, "--dest", "127.0.0.1", "--port", str(port), "--format", "mark5b", "--json", *args]


@pytest.mark.parametrize("parts", [1, 2, 4])
def test_datagrams_are_parts_of_the_frames_with_consecutive_sequence_numbers(tmp_path, parts):
    frames, start = 150, later_start(FPS)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        run = subprocess.Popen(sender(sock.getsockname()[1], "--fps", str(FPS), "--frames", str(frames), "--udps",
                                      "--station", "MK", "--frame-parts", str(parts), "--seq-start", "1000",
                                      "--start-time", f"{start.numerator}/{start.denominator}"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        size = 8 + FRAME // parts
        rows = np.zeros((frames * parts, size), dtype=np.uint8)
        sock.settimeout(10)
        for i in range(frames * parts):
            assert sock.recv_into(memoryview(rows[i])) == size
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    stats = json.loads(out)
    assert stats["frames_sent"] == frames and stats["datagrams_scheduled"] == frames * parts
    assert stats["bytes_sent"] == frames * parts * size and stats["stream"]["datagrams_per_frame"] == parts
    assert rows[:, :8].copy().view("<u8")[:, 0].tolist() == list(range(1000, 1000 + frames * parts))
    recorded = rows[:, 8:].reshape(frames, FRAME)
    expected = Mark5bGenerator(Mark5bStreamSpec(fps=FPS, user=station_id("MK")), start).batch(0, frames)
    np.testing.assert_array_equal(recorded, expected)
    path = tmp_path / "received.m5b"
    recorded.tofile(path)
    result = check_files([path], Expectation(format="mark5b", payload="pattern", fps=FPS, station="MK"))
    assert result.clean and result.frame_counts.frames == frames


@pytest.mark.parametrize(("args", "reason"), [
    (["--fps", "100", "--threads", "2"], "--threads: not for a Mark5B stream"),
    (["--fps", "100", "--payload-bytes", "8000"], "--payload-bytes: not for a Mark5B stream"),
    (["--fps", "100", "--frame-parts", "3"], "does not split into 3 datagrams"),
    (["--frames", "1"], "give the rate: --fps N (Mark5B: the bit rate / 80000)"),
])
def test_refusals_are_one_line_exit_2(args, reason):
    run = subprocess.run(sender(9, *args), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and reason in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr


def test_vdif_refuses_frame_parts():
    run = subprocess.run([*SEND, "--dest", "127.0.0.1", "--fps", "10", "--frame-parts", "2"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "--frame-parts is for Mark5B" in run.stderr


def test_end_to_end_through_the_reference_recorder_with_no_loss(tmp_path):
    """3 s of Mark5B at 100 frames/s (8 Mbit/s) in 5008-byte UDPS datagrams to the reference recorder, recorded
    as a vbs scan on plain directories; the scan is the frames sent, and the Mark5B checker finds none lost.

    The reference recorder has no Mark5B mode yet: it is given the VDIF mode whose frame is one datagram's
    payload (5008 bytes: VDIF_4976 at twice the frame rate), which is all it uses the mode for here, and a
    work buffer of an even number of datagrams, so that its chunks hold whole Mark5B frames (with -B 1M alone
    they hold 209 datagrams, and a frame straddles two chunks: the checker then reports the chunk sizes)."""
    frames, parts = 3 * FPS, 2
    part = FRAME // parts
    mbps = Fraction(FPS * parts * (part - 32) * 8, 1_000_000)
    mode = f"VDIF_{part - 32}-{float(mbps):g}-1-2"
    disks = plain_disks(tmp_path)
    port = free_udp_port()
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M",
                       mounts=[str(tmp_path / "disk*")]) as recorder:
        recorder.configure(RecorderConfig(mode=mode, protocol="udps", socket_buffer="8M", workbuf=210 * part, nbuf=4,
                                          mtu=9000, data_port=port, disks=[str(d) for d in disks], frame_bytes=part))
        scan = recorder.record_on("m5b_e2e")
        start = later_start(FPS)
        run = subprocess.run(sender(port, "--fps", str(FPS), "--frames", str(frames), "--udps", "--station", "MK",
                                    "--start-time", f"{start.numerator}/{start.denominator}"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        drained(recorder, port)
        result = recorder.record_off()
    assert (result.packets, result.lost, result.out_of_order) == (frames * parts, 0, 0)
    assert result.bytes == frames * FRAME
    recorded = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in result.files]).reshape(frames, FRAME)
    expected = Mark5bGenerator(Mark5bStreamSpec(fps=FPS, user=station_id("MK")), start).batch(0, frames)
    np.testing.assert_array_equal(recorded, expected)
    check = check_scan(scan, str(tmp_path / "disk*"),
                       Expectation(format="mark5b", payload="pattern", fps=FPS, station="MK", expected_frames=frames))
    assert check.clean, check.findings
    c = check.frame_counts
    assert (c.frames, c.missing_frames, c.invalid_frames, c.corrupt_headers, c.payload_errors) == (frames, 0, 0, 0, 0)
    assert check.threads[0].first_time is not None and Path(result.files[0]).parent.name == scan


def test_a_lost_datagram_of_a_frame_in_two_is_one_invalid_frame_counted_exactly(tmp_path):
    """vdif-send --drop-every 7 leaves out every 7th 5008-byte datagram (never two of one frame): the reference
    recorder fills each one's place (a VDIF fill header, then jive5ab's pattern, as in a VDIF mode), and the Mark5B
    checker counts each frame so filled, header half or payload half, as one invalid (fill) frame, no payload error
    and no corrupt header, so that a scenario's lost_frames (expected - distinct valid) is the frames hit."""
    frames, parts = 3 * FPS, 2
    part = FRAME // parts
    mbps = Fraction(FPS * parts * (part - 32) * 8, 1_000_000)
    disks = plain_disks(tmp_path)
    port = free_udp_port()
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M",
                       mounts=[str(tmp_path / "disk*")]) as recorder:
        recorder.configure(RecorderConfig(mode=f"VDIF_{part - 32}-{float(mbps):g}-1-2", protocol="udps",
                                          socket_buffer="8M", workbuf=210 * part, nbuf=4, mtu=9000, data_port=port,
                                          disks=[str(d) for d in disks], frame_bytes=part))
        scan = recorder.record_on("m5b_drop")
        start = later_start(FPS)
        run = subprocess.run(sender(port, "--fps", str(FPS), "--frames", str(frames), "--udps", "--station", "MK",
                                    "--drop-every", "7", "--start-time", f"{start.numerator}/{start.denominator}"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        drained(recorder, port)
        result = recorder.record_off()
    dropped = frames * parts // 7
    hit = {d // parts for d in range(6, frames * parts, 7)}
    assert json.loads(run.stdout)["dropped_on_purpose"] == dropped == len(hit)
    headers_lost = sum(1 for d in range(6, frames * parts, 7) if d % parts == 0)
    assert 0 < headers_lost < dropped  # both halves are met
    assert (result.packets, result.lost) == (frames * parts - dropped, dropped) and result.bytes == frames * FRAME
    check = check_scan(scan, str(tmp_path / "disk*"),
                       Expectation(format="mark5b", payload="pattern", fps=FPS, station="MK", expected_frames=frames))
    c = check.frame_counts
    assert (c.frames, c.valid_frames, c.invalid_frames, c.missing_frames) == (frames, frames - dropped, dropped, 0)
    assert (c.corrupt_headers, c.payload_errors, c.duplicate_frames, c.out_of_order_frames) == (0, 0, 0, 0)
    assert check.fill_frames == dropped
    offsets = sorted(f.offset % (frames * FRAME) for f in check.findings if f.kind == "invalid_frames")
    assert {o // FRAME for o in offsets} <= hit and len(offsets) > 0
