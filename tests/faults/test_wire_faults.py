"""vdif-send's own wire faults: exact duplicates and re-orders, counted by it, seen as such by a plain receiver."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from harness.sender.wire_faults import WireFault, WireFaults


def test_duplicates_every_nth_datagram_inside_the_window_only():
    faults = WireFaults((WireFault("duplicate", 10, 1.0, 0.5),), fps=100, nthreads=1)
    first = 95  # frames 95..104: 0.95 s .. 1.04 s; the window starts at frame 100
    # datagram 99 (index % 10 == 9) is before the window: nothing doubled, the batch goes as it is
    assert faults.order(first, np.ones(10, dtype=bool)) is None and faults.duplicated == 0
    order = faults.order(105, np.ones(10, dtype=bool))  # datagrams 105..114: 109 doubled
    assert faults.duplicated == 1 and list(order) == [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9]


def test_a_reorder_swaps_with_the_next_datagram_of_the_same_thread():
    faults = WireFaults((WireFault("reorder", 4, 0.0, 10.0),), fps=10, nthreads=2)
    order = faults.order(0, np.ones(8, dtype=bool))
    assert order is not None
    # rows 2 and 6 are every 4th-but-one; each swaps with the row two on (its own thread's next frame)
    assert list(order) == [0, 1, 4, 3, 2, 5, 6, 7] and faults.reordered == 1  # 6 has no partner in the batch


def test_batches_of_one_frame_lose_no_reorder():
    """A pacer on time sends one frame per batch; a batch ending inside a pair takes the partner's frame too."""
    faults = WireFaults((WireFault("reorder", 5, 0.0, 10.0),), fps=10, nthreads=1)
    frame, sent = 0, []
    while frame < 40:
        count = min(faults.frames_in_batch(frame, 1), 40 - frame)
        order = faults.order(frame, np.ones(count, dtype=bool))
        sent += [frame + r for r in (range(count) if order is None else order.tolist())]
        frame += count
    assert faults.reordered == 8 and sorted(sent) == list(range(40))  # datagrams 3, 8, 13, ..., 38
    assert sum(1 for a, b in itertools.pairwise(sent) if b < a) == 8


def test_rows_left_out_break_no_pair():
    faults = WireFaults((WireFault("reorder", 2, 0.0, 10.0),), fps=10, nthreads=1)
    kept = np.array([True, False, True, True])
    order = faults.order(0, kept)
    assert order is not None and sorted(order.tolist()) == [0, 2, 3]  # never a row that does not go


@pytest.mark.parametrize("text", ["duplicate:0:1:1", "reorder:1:1:1", "shuffle:10:1:1", "duplicate:10:-1:1",
                                  "duplicate:10:1:0", "duplicate:10:1", "duplicate:x:1:1"])
def test_a_bad_wire_fault_is_refused_in_one_line(text):
    done = subprocess.run([sys.executable, "-m", "harness.sender", "--dest", "127.0.0.1", "--fps", "10",
                           "--duration", "0.1", "--wire-fault", text], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--wire-fault" in done.stderr


def test_what_the_sender_counts_is_what_a_receiver_sees(udp_receiver):
    port = udp_receiver.getsockname()[1]
    done = subprocess.Popen([sys.executable, "-m", "harness.sender", "--dest", "127.0.0.1", "--port", str(port),
                             "--fps", "4000", "--payload-bytes", "1000", "--udps", "--duration", "1", "--json",
                             "--wire-fault", "duplicate:50:0.2:0.3", "--wire-fault", "reorder:40:0.6:0.3"],
                            stdout=subprocess.PIPE, text=True)
    seqs = []
    udp_receiver.settimeout(3.0)
    try:
        while True:
            seqs.append(struct.unpack("<Q", udp_receiver.recv(2000)[:8])[0])
    except TimeoutError:
        pass
    out, _ = done.communicate(timeout=30)
    stats = json.loads(out)
    assert stats["duplicated"] == 24  # 0.3 s x 4000 fps / 50
    assert len(seqs) == stats["frames_sent"] + stats["duplicated"]
    assert len(seqs) - len(set(seqs)) == stats["duplicated"]
    later = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    assert stats["reordered"] == 30 and later == 30  # 0.3 s x 4000 fps / 40, whatever the batches were
    highest, late = -1, 0  # as a UDPS reader counts out of order: below the highest seen before it
    for seq in seqs:
        late += seq <= highest
        highest = max(highest, seq)
    assert late == stats["late"] == stats["duplicated"] + stats["reordered"]  # one thread: one each
