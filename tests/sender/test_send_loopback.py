"""End to end: vdif-send over loopback to a plain UDP socket; every received frame checked."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

from harness.formats.vdif.header import headers_view, unpack_headers
from harness.formats.vdif.payload import pattern_keys, pattern_row
from harness.formats.vdif.timecode import epoch_start
from tests.conftest import SO_TIMESTAMPNS

SEND = [sys.executable, "-m", "harness.sender"]


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive time (SO_TIMESTAMPNS). Over loopback the kernel stamps a datagram while the sender's
    sendmsg call delivers it, so these times are the sender's send times: a busy receiver does not move them."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds + nanoseconds * 1e-9
    raise AssertionError("no kernel receive time on the datagram")


def receive(sock: socket.socket, expected: int, size: int) -> tuple[np.ndarray, list[float]]:
    """``expected`` datagrams of ``size`` bytes, and the kernel's receive time of each."""
    rows = np.zeros((expected, size), dtype=np.uint8)
    arrivals = []
    for i in range(expected):
        n, ancillary, _, _ = sock.recvmsg_into([memoryview(rows[i])], socket.CMSG_SPACE(16))
        assert n == size, f"datagram {i} has {n} bytes, expected {size}"
        arrivals.append(kernel_time(ancillary))
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(65536)  # nothing more than expected
    return rows, arrivals


def run_sender(port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*SEND, "--dest", "127.0.0.1", "--port", str(port), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.serial  # pacing judged on the kernel's clock: not beside another test's load
def test_prototype_interface_six_frames_half_a_second_apart(udp_receiver):
    port = udp_receiver.getsockname()[1]
    sender = run_sender(port, "--fps", "2", "--duration", "3")
    rows, arrivals = receive(udp_receiver, 6, 8032)
    out, _ = sender.communicate(timeout=30)
    assert sender.returncode == 0
    gaps = np.diff(arrivals)  # on the kernel's clock, as the frames left the sender
    assert np.all(np.abs(gaps - 0.5) < 0.1), gaps
    fields = unpack_headers(headers_view(rows.reshape(-1), 8032)[:, :8])
    assert fields["frame_nr"].tolist() == [0, 1, 0, 1, 0, 1]
    assert np.diff(fields["seconds"]).tolist() == [0, 1, 0, 1, 0]
    assert json.loads(out)["frames_sent"] == 6


@pytest.mark.serial  # pacing judged on the kernel's clock: not beside another test's load
def test_multi_thread_udps_stream_every_frame_checked(udp_receiver):
    port = udp_receiver.getsockname()[1]
    fps, threads, frames = 2000, 4, 1000
    sender = run_sender(port, "--fps", str(fps), "--threads", str(threads), "--payload-bytes", "1000",
                        "--udps", "--seq-start", "77", "--frames", str(frames), "--station", "Mk")
    rows, arrivals = receive(udp_receiver, threads * frames, 1040)
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0, err
    stats = json.loads(out)
    assert stats["frames_sent"] == threads * frames
    assert stats["threads"] == {str(t): {"frames": frames, "bytes": frames * 1032} for t in range(threads)}
    np.testing.assert_array_equal(rows[:, :8].copy().view("<u8")[:, 0], 77 + np.arange(threads * frames))
    frames_only = rows[:, 8:].copy()
    fields = unpack_headers(headers_view(frames_only.reshape(-1), 1032)[:, :8])
    # threads interleave: every thread's frame k before any frame k+1
    np.testing.assert_array_equal(fields["thread_id"], np.tile(np.arange(threads), frames))
    index = fields["seconds"] * fps + fields["frame_nr"]
    np.testing.assert_array_equal(index, np.repeat(index[0] + np.arange(frames), threads))
    assert (fields["frame_bytes"] == 1032).all() and (fields["station"] == 0x4D6B).all()
    assert (fields["invalid"] == 0).all() and (fields["version"] == 1).all() and (fields["bits"] == 2).all()
    keys = pattern_keys(fields["station"], fields["thread_id"], fields["seconds"], fields["frame_nr"])
    np.testing.assert_array_equal(frames_only[:, 32:].view("<u8"), keys[:, None] ^ pattern_row(125)[None, :])
    # header time follows the wall clock: the first frame left within 50 ms of its timestamp (kernel's clock),
    # and the sender never fell a whole second behind its schedule
    first = fields["seconds"][0] + fields["frame_nr"][0] / fps + epoch_start(int(fields["ref_epoch"][0]))
    assert abs(arrivals[0] - first) < 0.05, arrivals[0] - first
    assert 0 <= stats["max_lateness_ms"] < 1000


def test_drop_every_leaves_out_exactly_those_datagrams(udp_receiver):
    port = udp_receiver.getsockname()[1]
    sender = run_sender(port, "--fps", "1000", "--threads", "2", "--payload-bytes", "64", "--udps",
                        "--frames", "250", "--drop-every", "100")
    rows, _ = receive(udp_receiver, 500 - 5, 104)
    out, _ = sender.communicate(timeout=30)
    sequence = rows[:, :8].copy().view("<u8")[:, 0]
    assert sorted(set(range(500)) - set(sequence.tolist())) == [99, 199, 299, 399, 499]
    assert json.loads(out)["dropped_on_purpose"] == 5


def test_a_skipped_thread_is_never_sent_and_the_others_keep_their_sequence_numbers(udp_receiver):
    port = udp_receiver.getsockname()[1]
    sender = run_sender(port, "--fps", "1000", "--threads", "4", "--payload-bytes", "64", "--udps", "--seq-start",
                        "10", "--frames", "200", "--skip-thread", "2", "--drop-every", "50")
    # 800 scheduled: thread 2's 200 skipped, and of the other 600 those numbered 49, 99, ... 799 dropped (threads 1, 3)
    rows, _ = receive(udp_receiver, 600 - 16, 104)
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0, err
    sequence = rows[:, :8].copy().view("<u8")[:, 0]
    fields = unpack_headers(headers_view(rows[:, 8:].copy().reshape(-1), 96)[:, :8])
    assert 2 not in fields["thread_id"].tolist()
    expected = [10 + i for i in range(800) if i % 4 != 2 and i % 50 != 49]
    np.testing.assert_array_equal(sequence, expected)  # as if thread 2 were sent: its numbers are used up
    np.testing.assert_array_equal(sequence % 4, (10 + fields["thread_id"]) % 4)
    stats = json.loads(out)
    assert stats["frames_sent"] == 584 and stats["frames_skipped"] == 200 and stats["skipped_threads"] == [2]
    assert stats["datagrams_scheduled"] == 800 and stats["dropped_on_purpose"] == 16
    assert [stats["threads"][t]["frames"] for t in "0123"] == [200, 192, 0, 192]
    assert stats["schedule_end_posix"] - stats["first_frame_posix"] == pytest.approx(0.2)


def test_sigterm_stops_and_prints_statistics(udp_receiver):
    port = udp_receiver.getsockname()[1]
    sender = run_sender(port, "--fps", "100", "--payload-bytes", "64")
    for _ in range(60):  # sending, so its handlers are in place: 60 frames at least before it is stopped
        udp_receiver.recv(65536)
    sender.terminate()
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0
    stats = json.loads(out)
    assert stats["interrupted"] is True and stats["frames_sent"] > 50
    assert "interrupted" in err


def test_send_errors_are_counted_by_errno():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    out = subprocess.run([*SEND, "--dest", "127.0.0.1", "--port", str(port), "--fps", "20", "--frames", "10",
                          "--payload-bytes", "64", "--json", "--no-gso"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    stats = json.loads(out)
    assert stats["frames_sent"] == 10 and stats["send_errors"].get("ECONNREFUSED", 0) >= 1
    assert stats["transport"]["gso"] is False


def test_two_processes_send_the_one_stream_a_single_process_would(udp_receiver):
    port = udp_receiver.getsockname()[1]
    sender = run_sender(port, "--fps", "1000", "--threads", "4", "--payload-bytes", "64", "--udps", "--seq-start",
                        "5", "--frames", "300", "--processes", "2", "--drop-every", "70")
    rows, _ = receive(udp_receiver, 1200 - 17, 104)  # 1200 scheduled, those numbered 69, 139, ... 1189 dropped
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0, err
    sequence = rows[:, :8].copy().view("<u8")[:, 0]
    fields = unpack_headers(headers_view(rows[:, 8:].copy().reshape(-1), 96)[:, :8])
    order = np.argsort(sequence, kind="stable")  # side by side, the two interleave within a burst: sorted, one stream
    np.testing.assert_array_equal(sequence[order], [5 + i for i in range(1200) if i % 70 != 69])
    np.testing.assert_array_equal((sequence[order] - 5) % 4, fields["thread_id"][order])  # each in its place
    index = fields["seconds"] * 1000 + fields["frame_nr"]
    np.testing.assert_array_equal(index[order], index[order][0] + (sequence[order] - 5) // 4)  # one schedule
    keys = pattern_keys(fields["station"], fields["thread_id"], fields["seconds"], fields["frame_nr"])
    np.testing.assert_array_equal(rows[:, 8 + 32:].copy().view("<u8"), keys[:, None] ^ pattern_row(8)[None, :])
    stats = json.loads(out)
    assert stats["frames_sent"] == 1183 and stats["dropped_on_purpose"] == 17 and stats["send_failed"] == 0
    assert [stats["threads"][t]["frames"] for t in "0123"] == [300 - sum(1 for i in range(1200)
                                                                           if i % 70 == 69 and i % 4 == t)
                                                               for t in range(4)]
    assert stats["transport"]["processes"] == 2 and stats["datagrams_scheduled"] == 1200
    assert stats["frames_skipped"] == 0 and stats["skipped_threads"] == []
