"""UDPS sequence-number accounting as jive5ab's reader does it, vectorised over a batch.

Mirrors udpsreader.cc: a packet below (highest seen + 1) is out of order; its reordering
extent is the number of the last 32 sequence numbers (16 for udpsnor), itself included,
from the first one at or above it onwards (a neighbour swap gives 2); loss is
``max - min + 1 - packets``. Unlike jive5ab, loss never wraps to a huge number on
duplicates (it is clamped and duplicates are counted apart), and a sender that restarts its
numbering starts a new segment whose loss adds to the earlier segments' instead of erasing them.
Also the fill frame jive5ab writes for a lost udps datagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from harness.recorder.replies import EvlbiStats

U64 = npt.NDArray[np.uint64]

FILL_WORD = 0x1122334411223344
"""jive5ab's fill pattern, written as little-endian 64-bit words."""


@lru_cache(maxsize=8)
def fill_frame(frame_bytes: int) -> npt.NDArray[np.uint8]:
    """The frame jive5ab (>= 2.7.0) writes where a udps datagram never came.

    A 16-byte VDIF header that is zero but for the invalid bit (word 0 bit 31) and the frame
    length in 8-byte units (word 2); every byte after it is the 0x11223344 pattern.
    """
    frame = np.empty(frame_bytes, dtype=np.uint8)
    frame.view("<u8")[:] = FILL_WORD
    words = frame[:16].view("<u4")
    words[:] = (0x80000000, 0, frame_bytes // 8, 0)
    frame.flags.writeable = False
    return frame


@dataclass
class SequenceAccounting:
    """Loss, out-of-order and extent for one stream of sequence numbers."""

    history_length: int = 32
    stats: EvlbiStats = field(default_factory=EvlbiStats)
    duplicates: int = 0
    segments: int = 0
    first: int | None = None
    expect: int = 0
    minseq: int = 0
    maxseq: int = 0
    _segment_packets: int = 0
    _lost_before: int = 0
    _history: U64 = field(default_factory=lambda: np.empty(0, dtype=np.uint64))

    def restart(self, seq: int) -> None:
        """A new segment (the sender restarted its numbering): earlier loss is kept."""
        if self.first is not None:
            self._lost_before += self._segment_lost()
        self.first = self.minseq = self.maxseq = self.expect = seq
        self._segment_packets = 0
        self._history = np.empty(0, dtype=np.uint64)
        self.segments += 1

    def _segment_lost(self) -> int:
        if self.first is None:
            return 0
        return max(0, self.maxseq - self.minseq + 1 - self._segment_packets)

    def add_in_order(self, first: int, count: int) -> None:
        """Fast path: ``first .. first+count-1`` arrived exactly in order after everything before."""
        if self.first is None:
            self.restart(first)
        self.stats.pkt_in += count
        self._segment_packets += count
        self.maxseq = max(self.maxseq, first + count - 1)
        self.minseq = min(self.minseq, first)
        self.expect = max(self.expect, first + count)
        keep = self.history_length
        tail = np.arange(max(first, first + count - keep), first + count, dtype=np.uint64)
        self._history = np.concatenate((self._history, tail))[-keep:] if count < keep else tail
        self.stats.pkt_lost = self._lost_before + self._segment_lost()

    def add(self, seqs: U64) -> npt.NDArray[np.bool_]:
        """Account a batch in arrival order; returns which packets were out of order."""
        n = len(seqs)
        if n == 0:
            return np.zeros(0, dtype=bool)
        if self.first is None:
            self.restart(int(seqs[0]))
        running = np.maximum.accumulate(seqs)
        expect = np.empty(n, dtype=np.uint64)
        expect[0] = self.expect
        if n > 1:
            expect[1:] = np.maximum(running[:-1] + np.uint64(1), np.uint64(self.expect))
        ooo = seqs < expect
        self.stats.pkt_in += n
        self._segment_packets += n
        self.expect = max(self.expect, int(running[-1]) + 1)
        self.maxseq = max(self.maxseq, int(running[-1]))
        self.minseq = min(self.minseq, int(seqs.min()))
        combined = np.concatenate((self._history, seqs))
        if ooo.any():
            offset = len(self._history)
            for i in np.flatnonzero(ooo).tolist():
                end = offset + i + 1
                window = combined[max(0, end - self.history_length) : end]
                j = int(np.argmax(window >= seqs[i]))
                self.stats.ooosum += len(window) - j
            self.stats.pkt_ooo += int(ooo.sum())
        self._history = combined[-self.history_length :]
        self.stats.pkt_lost = self._lost_before + self._segment_lost()
        return ooo

    def discard(self, count: int = 1) -> None:
        """Packets that came too late for the re-order window (jive5ab's ``%d``)."""
        self.stats.pkt_disc += count


@dataclass
class PerSenderAccounting:
    """udpsnor: loss per sender (at most 8, as jive5ab), summed; out-of-order is not summed into evlbi?."""

    max_senders: int = 8
    senders: dict[int, SequenceAccounting] = field(default_factory=dict)
    stats: EvlbiStats = field(default_factory=EvlbiStats)
    ignored: int = 0

    def add(self, seqs: U64, sender_keys: npt.NDArray[np.uint64] | None) -> None:
        if sender_keys is None or len(seqs) == 0 or (sender_keys == sender_keys[0]).all():
            groups = [(0 if sender_keys is None or len(seqs) == 0 else int(sender_keys[0]), seqs)]
        else:
            keys, inverse = np.unique(sender_keys, return_inverse=True)
            groups = [(int(k), seqs[inverse == i]) for i, k in enumerate(keys.tolist())]
        for key, group in groups:
            account = self.senders.get(key)
            if account is None:
                if len(self.senders) >= self.max_senders:
                    self.ignored += len(group)
                    continue
                account = self.senders[key] = SequenceAccounting(history_length=16)
            account.add(group)
        self.stats.pkt_in = sum(a.stats.pkt_in for a in self.senders.values())
        self.stats.pkt_lost = sum(a.stats.pkt_lost for a in self.senders.values())
