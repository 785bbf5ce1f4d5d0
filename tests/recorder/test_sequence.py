"""UDPS accounting on plain arrays, checked against a per-packet transcription of jive5ab's reader loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.recorder.reference.sequence import PerSenderAccounting, SequenceAccounting, fill_frame
from tests.recorder.conftest import DATA


def jive5ab_counts(seqs: list[int], history: int = 32) -> tuple[int, int, int, int]:
    """udpsreader.cc, one packet at a time: (packets, lost, out-of-order, ooosum)."""
    psn: list[int] = []
    expect = maxseq = minseq = seqs[0]
    pkt = ooo = ooosum = 0
    for seq in seqs:
        pkt += 1
        psn = ([*psn, seq])[-history:]
        if seq >= expect:
            expect = seq + 1
        else:
            ooo += 1
            j = 0
            while j < len(psn) and psn[j] < seq:
                j += 1
            ooosum += len(psn) - j
        maxseq, minseq = max(maxseq, seq), min(minseq, seq)
    return pkt, maxseq - minseq + 1 - pkt, ooo, ooosum


def account(batches: list[list[int]]) -> SequenceAccounting:
    acc = SequenceAccounting()
    for batch in batches:
        acc.add(np.asarray(batch, dtype=np.uint64))
    return acc


def test_in_order_with_gaps():
    acc = account([[10, 11, 12], [14, 15], [19]])
    assert (acc.stats.pkt_in, acc.stats.pkt_lost, acc.stats.pkt_ooo) == (6, 4, 0)
    fast = SequenceAccounting()
    fast.add_in_order(10, 3)
    fast.add_in_order(14, 2)
    fast.add_in_order(19, 1)
    assert (fast.stats.pkt_in, fast.stats.pkt_lost, fast.expect) == (6, 4, 20)


def test_a_neighbour_swap_has_extent_two():
    acc = account([[0, 2], [1, 3]])
    assert (acc.stats.pkt_ooo, acc.stats.ooosum, acc.stats.pkt_lost) == (1, 2, 0)
    assert jive5ab_counts([0, 2, 1, 3]) == (4, 0, 1, 2)


def test_duplicates_do_not_wrap_the_loss():
    acc = account([[5, 6, 6, 7]])
    assert acc.stats.pkt_lost == 0 and acc.stats.pkt_in == 4 and acc.stats.pkt_ooo == 1


def test_a_restarted_sender_keeps_the_earlier_loss():
    acc = account([[100, 101, 103]])
    acc.restart(0)
    acc.add(np.asarray([0, 1, 3], dtype=np.uint64))
    assert acc.stats.pkt_lost == 2 and acc.stats.pkt_in == 6 and acc.segments == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=80), st.integers(1, 9))
def test_batched_accounting_matches_per_packet(offsets, batch):
    seqs = [1000 + o for o in offsets]
    if len(set(seqs)) != len(seqs):  # jive5ab's loss wraps on duplicates; ours clamps (tested above)
        seqs = list(dict.fromkeys(seqs))
    acc = account([seqs[i : i + batch] for i in range(0, len(seqs), batch)])
    packets, lost, ooo, ooosum = jive5ab_counts(seqs)
    assert (acc.stats.pkt_in, acc.stats.pkt_lost, acc.stats.pkt_ooo, acc.stats.ooosum) == (packets, lost, ooo, ooosum)


def test_udpsnor_loss_per_sender_is_summed():
    acc = PerSenderAccounting()
    acc.add(np.asarray([0, 1, 3, 10, 12], dtype=np.uint64), np.asarray([7, 7, 7, 9, 9], dtype=np.uint64))
    assert (acc.stats.pkt_in, acc.stats.pkt_lost, acc.stats.pkt_ooo) == (5, 2, 0)


def test_fill_frame_is_byte_identical_to_jive5abs():
    recording = np.fromfile(DATA / "disk0" / "mk_lossy" / "mk_lossy.00000000", dtype=np.uint8).reshape(-1, 1032)
    np.testing.assert_array_equal(fill_frame(1032), recording[100])
    assert fill_frame(8224)[:16].view("<u4").tolist() == [0x80000000, 0, 8224 // 8, 0]
