"""The reference recorder's receive path on a real UDP socket: placement by sequence number, fill, odd datagrams.

Datagrams are queued in the socket before the capture starts, so one recvmmsg call takes many of
them and the batch logic (fast path, re-ordering, window moves) is what is tested.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from harness.recorder.reference.blocks import BlockPool
from harness.recorder.reference.capture import Capture
from harness.recorder.reference.recvmmsg import set_receive_timeout
from harness.recorder.reference.sequence import fill_frame
from harness.recorder.reference.sinks import VbsSink

FRAME = 64
BLOCK = 8  # frames per block (chunk)


def frame(n: int) -> bytes:
    """A 64-byte stand-in frame whose every 8-byte word is n (headers are not looked at)."""
    return np.full(FRAME // 8, n, dtype="<u8").tobytes()


def udps(seq: int, n: int | None = None) -> bytes:
    return seq.to_bytes(8, "little") + frame(seq if n is None else n)


def capture(tmp_path: Path, protocol: str, datagrams: list[bytes], window: int = 2) -> tuple[Capture, list[Path]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    set_receive_timeout(rx, 0.05)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for datagram in datagrams:
            tx.sendto(datagram, rx.getsockname())
    pool = BlockPool(BLOCK, FRAME, limit=window + 3)
    sink = VbsSink(pool, 1, "cap", [str(tmp_path)], direct=False)
    cap = Capture(rx, protocol=protocol, frame_bytes=FRAME, pool=pool, sink=sink, window=window)
    cap.start()
    deadline = time.monotonic() + 5
    while cap.evlbi().pkt_in + cap.wrong_size < len(datagrams) and time.monotonic() < deadline:
        time.sleep(0.02)
    cap.stop()
    sink.finish()
    rx.close()
    assert cap.error is None
    files = sorted((tmp_path / "cap").glob("cap.*"), key=lambda p: int(p.suffix[1:]))
    return cap, files


def words(files: list[Path]) -> list[int]:
    """The first word of every recorded frame (fill frames show as -1)."""
    data = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in files]).reshape(-1, FRAME)
    fill = (data == fill_frame(FRAME)).all(axis=1)
    return [-1 if f else int(v) for f, v in zip(fill, data[:, :8].copy().view("<u8")[:, 0], strict=True)]


def test_in_order_stream_fills_whole_chunks_and_keeps_the_tail(tmp_path):
    cap, files = capture(tmp_path, "udps", [udps(100 + i) for i in range(20)])
    assert [f.stat().st_size for f in files] == [BLOCK * FRAME, BLOCK * FRAME, 4 * FRAME]
    assert words(files) == list(range(100, 120))
    assert (cap.evlbi().pkt_in, cap.evlbi().pkt_lost, cap.bytes_received) == (20, 0, 20 * (FRAME + 8))


def test_reordered_packets_land_in_place(tmp_path):
    order = [0, 1, 3, 2, 4, 5, 9, 6, 7, 8, 10, 11, 12, 13, 15, 14]
    cap, files = capture(tmp_path, "udps", [udps(s) for s in order])
    assert words(files) == list(range(16))
    stats = cap.evlbi()
    assert (stats.pkt_in, stats.pkt_lost, stats.pkt_ooo) == (16, 0, 5)


def test_gaps_become_fill_frames_and_a_lost_tail_is_not_invented(tmp_path):
    sent = [s for s in range(20) if s not in (3, 8, 9, 17)] + [21]
    cap, files = capture(tmp_path, "udps", [udps(s) for s in sent])
    expected = [s if s in sent else -1 for s in range(22)]
    assert words(files) == expected
    assert cap.evlbi().pkt_lost == 5  # 3, 8, 9, 17 and 20


def test_a_packet_too_late_for_the_window_is_discarded(tmp_path):
    # 12 again after 29: the window (2 blocks of 8) has moved past 12's block
    cap, files = capture(tmp_path, "udps", [*(udps(s) for s in range(30)), udps(12, n=999)])
    assert words(files) == list(range(30))
    assert cap.evlbi().pkt_disc == 1 and cap.evlbi().pkt_ooo == 1


def test_a_jump_beyond_the_window_is_not_filled(tmp_path):
    sent = [*range(10), *range(100, 104)]
    _cap, files = capture(tmp_path, "udps", [udps(s) for s in sent])
    # the block holding 8 and 9 is completed with fill; the blocks jumped over are not written at all
    assert words(files) == [*range(10), *[-1] * 6, *range(100, 104)]


def test_a_restarted_sender_starts_a_new_segment(tmp_path):
    sent = [*range(1000, 1024), *range(0, 8)]
    cap, files = capture(tmp_path, "udps", [udps(s) for s in sent])
    assert [w for w in words(files) if w >= 0] == sent
    assert cap.sequence.segments == 2 and cap.evlbi().pkt_lost == 0


def test_wrong_size_datagrams_are_dropped_and_counted(tmp_path):
    datagrams = [udps(0), udps(1), b"\x02" * 50, udps(2), udps(3) + b"extra", udps(3)]
    cap, files = capture(tmp_path, "udps", datagrams)
    assert words(files) == [0, 1, 2, 3] and cap.wrong_size == 2


@pytest.mark.parametrize("protocol", ["pudp", "udpsnor"])
def test_arrival_order_protocols_keep_arrival_order(tmp_path, protocol):
    order = [0, 2, 1, 5, 6, 7, 8, 9, 10]
    datagrams = [udps(s) if protocol == "udpsnor" else frame(s) for s in order]
    cap, files = capture(tmp_path, protocol, [*datagrams, b"short"])
    assert words(files) == order and cap.wrong_size == 1
    stats = cap.evlbi()
    assert stats.pkt_in == 9 and stats.pkt_lost == (2 if protocol == "udpsnor" else 0) and stats.pkt_ooo == 0
