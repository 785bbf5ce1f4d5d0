"""Faults the sender itself puts on the wire, exactly: duplicated and re-ordered datagrams in a time window.

A window is counted in frame periods from the run's first frame, so its datagrams are the same whatever the
batching. Duplicates go out right after their original; a re-ordered datagram goes out after the next datagram of
its own thread, both in the same batch: a batch that would end between the two takes one frame more
(``frames_in_batch``), sent at most one frame period early, so that no pair is lost to how the pacer happened to
cut the batches (a row left out, e.g. a skipped thread's, breaks no pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

KINDS = ("duplicate", "reorder")


@dataclass(frozen=True)
class WireFault:
    kind: str
    every: int
    at: float
    duration: float

    @classmethod
    def parse(cls, text: str) -> WireFault:
        """``KIND:EVERY:AT:DURATION``, e.g. ``duplicate:100:1.0:2.0`` (seconds from the first frame)."""
        parts = text.split(":")
        try:
            kind, every, at, duration = parts[0], int(parts[1]), float(parts[2]), float(parts[3])
        except (IndexError, ValueError):
            raise ValueError(f"--wire-fault {text!r}: KIND:EVERY:AT:DURATION, e.g. duplicate:100:1.0:2.0") from None
        if len(parts) != 4 or kind not in KINDS:
            raise ValueError(f"--wire-fault {text!r}: the kind is one of {', '.join(KINDS)}")
        if every < (2 if kind == "reorder" else 1) or at < 0 or duration <= 0:
            raise ValueError(f"--wire-fault {text!r}: every >= {2 if kind == 'reorder' else 1}, at >= 0, "
                             "duration > 0")
        return cls(kind, every, at, duration)


@dataclass
class WireFaults:
    """The sender's wire faults and what they did (``duplicated``, ``reordered``: datagrams)."""

    faults: tuple[WireFault, ...]
    fps: int | Fraction
    nthreads: int
    duplicated: int = 0
    reordered: int = 0
    late: int = 0
    """Datagrams sent below the highest sequence number sent before them (a duplicate, the one overtaken in a
    re-order, and any between): what a UDPS reader such as jive5ab's counts as out of order."""
    highest: int = -1

    def frames_in_batch(self, first_frame: int, count: int) -> int:
        """``count``, or one more when the batch's last frame holds a re-ordered datagram (its partner is the
        next frame's)."""
        last = first_frame + count - 1
        frame_time = last / float(self.fps)
        index = last * self.nthreads + np.arange(self.nthreads)
        for fault in self.faults:
            if fault.kind == "reorder" and fault.at <= frame_time < fault.at + fault.duration \
                    and (index % fault.every == fault.every - 2).any():
                return count + 1
        return count

    def order(self, first_datagram: int, kept: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64] | None:
        """The rows of a batch to send, in order (a row twice: duplicated), or None when no fault touches it.

        ``kept`` marks the rows that go at all; the global datagram index of row r is first_datagram + r.
        """
        if not self.faults:
            return None
        rows = np.flatnonzero(kept)
        if not len(rows):
            return None
        index = first_datagram + rows
        frame_time = (index // self.nthreads) / float(self.fps)
        repeat = np.ones(len(rows), dtype=np.int64)
        swap = np.zeros(len(rows), dtype=bool)
        for fault in self.faults:
            inside = (frame_time >= fault.at) & (frame_time < fault.at + fault.duration)
            if fault.kind == "duplicate":
                repeat[inside & (index % fault.every == fault.every - 1)] += 1
            else:
                swap |= inside & (index % fault.every == fault.every - 2)
        step = self.nthreads  # the next datagram of the same thread: per-thread order is what a checker sees
        if len(rows) <= step:
            swap[:] = False
        else:
            swap[-step:] = False  # the pair must be in this batch
            partner = np.zeros(len(rows), dtype=bool)
            for n in np.flatnonzero(swap):  # a datagram takes part in one swap at most
                if partner[n] or partner[n + step] or rows[n + step] != rows[n] + step:
                    swap[n] = False
                else:
                    partner[n] = partner[n + step] = True
        if not swap.any() and (repeat == 1).all():
            self.highest = max(self.highest, int(index[-1]))
            return None
        order = rows.copy()
        where = np.flatnonzero(swap)
        order[where], order[where + step] = rows[where + step], rows[where]
        counts = repeat.copy()
        counts[where], counts[where + step] = repeat[where + step], repeat[where]
        self.reordered += len(where)
        self.duplicated += int((repeat - 1).sum())
        emitted = np.repeat(order, counts)
        sent = first_datagram + emitted
        before = np.maximum.accumulate(np.concatenate(([self.highest], sent[:-1])))
        self.late += int((sent <= before).sum())
        self.highest = max(self.highest, int(sent.max()))
        return emitted
