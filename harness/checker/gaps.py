"""Gaps in a thread's sequence: the set of slots seen, and which stand-in frame fills which gap.

``Coverage`` keeps the slot keys seen as sorted disjoint intervals (one per run of consecutive
frames), each end with the byte position of its frame, so its size grows with the number of gaps,
not of frames. ``attribute`` places stand-ins (frames whose header cannot say where they belong:
jive5ab's fill frames, damaged headers) by position: between the frames either side of a gap, the
missing frames would sit evenly spaced; a stand-in within half a frame of such a place fills it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.checker.rules import RANK_SHIFT, SLOT_BITS

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
PAIR_BATCH = 1 << 22
"""(gap, stand-in) pairs looked at in one go."""


class Coverage:
    """Seen slot keys as sorted disjoint intervals, with the byte position of each end's frame."""

    def __init__(self) -> None:
        e = np.empty(0, dtype=np.int64)
        self.starts, self.ends, self.start_pos, self.end_pos = e, e, e, e

    def __len__(self) -> int:
        return len(self.starts)

    def contains(self, keys: I64) -> Mask:
        if not len(self.starts):
            return np.zeros(len(keys), dtype=bool)
        i = np.searchsorted(self.starts, keys, side="right") - 1
        return (i >= 0) & (keys <= self.ends[np.maximum(i, 0)])

    def add(self, keys: I64, positions: I64) -> None:
        """Add sorted, distinct keys not yet covered, ``positions`` being where their frames are."""
        if not len(keys):
            return
        breaks = np.flatnonzero(np.diff(keys) != 1) + 1
        first = np.r_[0, breaks]
        last = np.r_[breaks - 1, len(keys) - 1]
        self.add_runs(keys[first], keys[last], positions[first], positions[last])

    def add_runs(self, starts: I64, ends: I64, start_pos: I64, end_pos: I64) -> None:
        """Add runs of consecutive keys (disjoint from what is covered), merging adjacent intervals."""
        starts = np.concatenate([self.starts, starts])
        ends = np.concatenate([self.ends, ends])
        start_pos = np.concatenate([self.start_pos, start_pos])
        end_pos = np.concatenate([self.end_pos, end_pos])
        order = np.argsort(starts, kind="stable")
        starts, ends, start_pos, end_pos = starts[order], ends[order], start_pos[order], end_pos[order]
        head = np.r_[True, starts[1:] > ends[:-1] + 1]
        tail = np.r_[head[1:], True]
        self.starts, self.start_pos = starts[head], start_pos[head]
        self.ends, self.end_pos = ends[tail], end_pos[tail]

    def close_before(self, bounds: I64) -> None:
        """Merge each interval into its predecessor (same thread and segment) when the gap between them
        ends below ``bounds[rank]``: those gaps are settled, and must not be counted again."""
        if len(self.starts) < 2:
            return
        group = self.starts >> SLOT_BITS
        merge = np.r_[False, (group[1:] == group[:-1]) & (self.starts[1:] < bounds[self.starts[1:] >> RANK_SHIFT])]
        if not merge.any():
            return
        head = ~merge
        tail = np.r_[head[1:], True]
        self.starts, self.start_pos = self.starts[head], self.start_pos[head]
        self.ends, self.end_pos = self.ends[tail], self.end_pos[tail]


def attribute(a: I64, b: I64, pa: I64, pb: I64, stand_pos: I64, frame_bytes: int) -> tuple[I64, I64, I64]:
    """Which stand-in fills which missing slot: (gap index, stand-in index, slot key) per attribution.

    Gap ``g`` is the slots ``a[g]+1 .. b[g]-1`` between frames at byte positions ``pa[g]`` and
    ``pb[g]``; ``stand_pos`` are the stand-ins' positions, sorted. Each stand-in fills at most one
    slot and each slot takes at most one stand-in (the nearest wins).
    """
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    i0 = np.searchsorted(stand_pos, lo, side="right")
    i1 = np.searchsorted(stand_pos, hi, side="left")
    count = np.maximum(i1 - i0, 0)
    claims_gap, claims_stand, claims_slot, claims_err = [], [], [], []
    cumulative = np.r_[0, np.cumsum(count)]
    lo_g = 0
    while lo_g < len(a):  # a few gaps at a time, so the (gap, stand-in) pairs stay bounded
        hi_g = max(lo_g + 1, int(np.searchsorted(cumulative, cumulative[lo_g] + PAIR_BATCH, side="right")) - 1)
        n_pairs = int(cumulative[hi_g] - cumulative[lo_g])
        span = np.arange(lo_g, hi_g)
        lo_g = hi_g
        if not n_pairs:
            continue
        gap = np.repeat(span, count[span])
        stand = i0[gap] + np.arange(n_pairs) - (cumulative[gap] - cumulative[span[0]])
        q = stand_pos[stand]
        span_slots = (b[gap] - a[gap]).astype(np.float64)
        span_pos = (pb[gap] - pa[gap]).astype(np.float64)
        slot = a[gap] + np.rint((q - pa[gap]) / span_pos * span_slots).astype(np.int64)
        where = pa[gap] + (slot - a[gap]) / span_slots * span_pos
        err = np.abs(where - q)
        ok = (slot > a[gap]) & (slot < b[gap]) & (err <= frame_bytes / 2)
        claims_gap.append(gap[ok])
        claims_stand.append(stand[ok])
        claims_slot.append(slot[ok])
        claims_err.append(err[ok])
    if claims_gap:
        gap = np.concatenate(claims_gap)
        stand = np.concatenate(claims_stand)
        slot = np.concatenate(claims_slot)
        err = np.concatenate(claims_err)
        order = np.lexsort((stand, err))
        gap, stand, slot = gap[order], stand[order], slot[order]
        _, one_per_stand = np.unique(stand, return_index=True)
        keep = np.zeros(len(stand), dtype=bool)
        keep[one_per_stand] = True
        _, one_per_slot = np.unique(slot[keep], return_index=True)
        chosen = np.flatnonzero(keep)[one_per_slot]
        gap, stand, slot = gap[chosen], stand[chosen], slot[keep][one_per_slot]
        return gap, stand, slot
    empty = np.empty(0, dtype=np.int64)
    return empty, empty, empty
