"""Continuity of each thread: missing, duplicate and out-of-order frames, time going backwards.

Every placed frame has a slot key (thread rank and frame index since the stream's reference
second). Windows of frames are sorted by thread (stable, so file order is kept within a thread)
and handled with numpy across all threads at once; state carried from window to window is small:
per thread the last key, the highest key and the counts, plus the set of slots seen as sorted
disjoint intervals (one per run of consecutive frames, so its size grows with the number of gaps,
not of frames). Definitions, per thread, in file order:

- duplicate: a frame whose slot was already seen;
- out of order: a first frame of its slot arriving after a frame of a later slot (jive5ab's
  definition); its displacement is how many slots earlier than the latest one it is;
- time going backwards: a frame more than ``window`` slots before its predecessor. The thread's
  continuity starts afresh there (a new *segment*: the slot key carries a segment number), so a
  sender whose clock steps back is reported once, not as a stretch of duplicates;
- a frame whose time is more than ``window`` slots off while its two neighbours are one or two
  slots apart has a damaged time field: it is a corrupt header, not a jump;
- missing: a slot between the thread's first and last frame that no frame occupies, once the
  stand-ins are attributed.

Stand-ins are frames that cannot be placed by their header (jive5ab's fill frames, damaged
headers). After the last window each is attributed to a missing slot by its byte position:
interpolating between the positions of the frames on either side of a gap gives where each
missing frame would have been; a stand-in within half a frame of that place fills it. Stand-ins no gap
takes that lie between the stream's first and last placed frame are counted apart (``loose_*``): they may
stand in for a thread absent altogether (see ``absence``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from harness.checker.gaps import Coverage, attribute
from harness.checker.profile import SecondTally
from harness.checker.result import Finding, Findings
from harness.checker.rules import RANK_SHIFT, SEGMENT_BITS, SLOT_BIAS, SLOT_BITS, SLOT_MASK

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
MAX_SEGMENT = (1 << SEGMENT_BITS) - 1
COVERAGE_LIMIT = 1 << 21
"""Intervals kept before old gaps are settled early (bounds memory on pathologically lossy recordings)."""
STAND_IN_LIMIT = 1 << 22
"""Stand-ins waiting for attribution before those that can no longer fill a gap are let go."""


@dataclass
class Frames:
    """Parallel arrays describing frames placed by their headers."""

    rank: I64
    key: I64
    pos: I64
    invalid: Mask
    corrupt: Mask
    payload: npt.NDArray[np.int32]
    """First differing payload word, -1 when the payload is right, -2 when it was not checked."""

    def __len__(self) -> int:
        return len(self.key)

    def take(self, index: Mask | I64) -> Frames:
        return Frames(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(a: Frames, b: Frames) -> Frames:
        return Frames(**{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(a)})

    @staticmethod
    def empty() -> Frames:
        e = np.empty(0, dtype=np.int64)
        return Frames(e, e, e, np.empty(0, bool), np.empty(0, bool), np.empty(0, np.int32))


@dataclass
class ThreadCounts:
    """Running counts per thread rank."""

    n: int
    placed: I64 = field(init=False)
    invalid: I64 = field(init=False)
    corrupt: I64 = field(init=False)
    duplicates: I64 = field(init=False)
    out_of_order: I64 = field(init=False)
    payload_errors: I64 = field(init=False)
    distinct: I64 = field(init=False)
    backwards: I64 = field(init=False)
    max_displacement: I64 = field(init=False)
    max_frame_nr: I64 = field(init=False)
    stand_in_invalid: I64 = field(init=False)
    stand_in_corrupt: I64 = field(init=False)
    missing: I64 = field(init=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "n":
                setattr(self, f.name, np.zeros(self.n, dtype=np.int64))


@dataclass
class Context:
    """How continuity turns keys and positions into findings."""

    findings: Findings
    locate: Callable[[I64], tuple[list[str], I64]]
    key_time: Callable[[I64], list[str]]
    threads: tuple[int, ...]
    frame_bytes: int
    fps: int


class Continuity:
    """Streaming per-thread continuity over windows of placed frames and stand-ins."""

    def __init__(self, context: Context, window: int) -> None:
        self.ctx = context
        self.window = window
        n = len(context.threads)
        self.prev = np.full(n, -1, dtype=np.int64)
        """Slot of each thread's last placed frame (-1: none yet)."""
        self.segment = np.zeros(n, dtype=np.int64)
        self.hwm = np.full(n, -1, dtype=np.int64)
        """Highest key (segment included) of each thread."""
        self.first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.last = np.full(n, -1, dtype=np.int64)
        """Lowest and highest slot of each thread."""
        self.counts = ThreadCounts(n)
        self.seconds = SecondTally(n, context.fps)
        """Valid distinct frames per thread per second (the loss profile)."""
        self.coverage = Coverage()
        self.held = Frames.empty()
        self._stand_pos: list[I64] = []
        self._stand_invalid: list[Mask] = []
        self._stand_count = 0
        self.watched: set[int] = set()
        self.attributed: dict[int, tuple[int, int]] = {}
        """Position -> (rank, slot key) for watched stand-ins once attributed."""
        self.unattributed_invalid = 0
        self.unattributed_corrupt = 0
        self.loose_invalid = 0
        self.loose_corrupt = 0
        """Of the unattributed stand-ins, those between the stream's first and last placed frame (by position)."""
        self.first_pos = np.iinfo(np.int64).max
        self.last_pos = -1
        """Byte positions of the first and last placed frame."""
        self.outliers = 0

    # ----------------------------------------------------------------- findings
    def _emit(self, kind: str, pos: I64, keys: I64 | None, rank: I64 | None,
              detail: Callable[[int], str]) -> None:
        """Count findings at these positions; keep the first few, ``detail(i)`` saying what the i-th is."""
        room = self.ctx.findings.room(kind)
        shown = min(room, len(pos))
        files, offsets = self.ctx.locate(pos[:shown])
        times = self.ctx.key_time(keys[:shown]) if keys is not None else [None] * shown
        for i in range(shown):
            thread = None if rank is None else self.ctx.threads[int(rank[i])]
            self.ctx.findings.add(Finding(kind, int(offsets[i]), files[i], thread, times[i], detail(i)))
        self.ctx.findings.count(kind, len(pos) - shown)

    # ----------------------------------------------------------------- frames
    def stand_ins(self, pos: I64, invalid: Mask) -> None:
        """Frames that cannot be placed by their header, at these byte positions."""
        if len(pos):
            self._stand_pos.append(np.asarray(pos, dtype=np.int64))
            self._stand_invalid.append(np.asarray(invalid, dtype=bool))
            self._stand_count += len(pos)

    def watch(self, positions: I64) -> None:
        """Remember where these stand-ins end up (their findings are completed with it)."""
        self.watched.update(int(p) for p in positions)

    def add(self, frames: Frames, final: bool = False) -> None:
        """A window of placed frames (file order). Each thread's last frame waits for the next window,
        because deciding whether its time field is damaged needs its successor."""
        batch = Frames.concat(self.held, frames) if len(self.held) else frames
        if not len(batch):
            return
        b = batch.take(np.argsort(batch.rank, kind="stable"))
        r, k = b.rank, b.key & SLOT_MASK
        head = np.r_[True, r[1:] != r[:-1]]
        tail = np.r_[head[1:], True]
        prev = np.r_[-1, k[:-1]]
        prev[head] = self.prev[r[head]]
        nxt = np.r_[k[1:], -1]
        step = nxt - prev
        outlier = (prev >= 0) & ~tail & ((step == 1) | (step == 2)) & (np.abs(k - prev - 1) > self.window)
        hold = tail if not final else np.zeros(len(b), dtype=bool)
        if outlier.any():
            self._outliers(b.take(outlier), prev[outlier], nxt[outlier])
        self.held = b.take(hold)
        self._place(b.take(~hold & ~outlier))
        if self._stand_count > STAND_IN_LIMIT:
            self._release_stand_ins()

    def _outliers(self, o: Frames, before: I64, after: I64) -> None:
        self.stand_ins(o.pos, o.invalid)
        bad = np.flatnonzero(~o.invalid & ~o.corrupt)  # invalid frames are never corrupt; corrupt ones are counted
        self.outliers += len(bad)
        shown = bad[: self.ctx.findings.room("corrupt_headers")]
        own = self.ctx.key_time(o.key[shown])
        around = self.ctx.key_time(np.concatenate([before[shown], after[shown]]))
        details = [f"time {own[j]} is out of line with the thread's frames around it ({around[j]}, "
                   f"{around[len(shown) + j]}): damaged seconds or frame number" for j in range(len(shown))]
        self._emit("corrupt_headers", o.pos[bad], o.key[bad], o.rank[bad], details.__getitem__)

    def _place(self, p: Frames) -> None:
        n = len(p)
        if not n:
            return
        c, T = self.counts, len(self.ctx.threads)
        r, pos = p.rank, p.pos
        slot = p.key & SLOT_MASK
        head = np.r_[True, r[1:] != r[:-1]]
        heads = np.flatnonzero(head)
        tails = np.r_[heads[1:] - 1, n - 1]
        prev = np.r_[-1, slot[:-1]]
        prev[head] = self.prev[r[head]]
        ranks = r[heads]
        in_step = slot == prev + 1
        in_step[heads] |= prev[heads] < 0
        current = (ranks << RANK_SHIFT) | (self.segment[ranks] << SLOT_BITS) | np.maximum(prev[heads], 0)
        if in_step.all() and np.all((prev[heads] < 0) | (self.hwm[ranks] == current)):
            self._tally_orderly(p, slot, heads, tails)
            return
        back = (prev >= 0) & (slot < prev - self.window)
        # each step back starts a new continuity segment for the rest of the thread's frames
        steps = np.cumsum(back)
        steps -= np.repeat(steps[heads] - back[heads], np.diff(np.r_[heads, n]))
        segment = np.minimum(self.segment[r] + steps, MAX_SEGMENT)
        k = (r << RANK_SHIFT) | (segment << SLOT_BITS) | slot
        running = np.maximum.accumulate(k)
        before_max = np.maximum(np.r_[-1, running[:-1]], self.hwm[r])
        unique, first_index = np.unique(k, return_index=True)
        fresh = ~self.coverage.contains(unique)
        first_seen = np.zeros(n, dtype=bool)
        first_seen[first_index[fresh]] = True
        duplicate = ~first_seen
        late = first_seen & (k < before_max)
        self.coverage.add(unique[fresh], pos[first_index[fresh]])
        counted = first_seen & ~p.invalid
        self.seconds.add(r[counted], slot[counted])

        def per_thread(mask: Mask) -> I64:
            return np.bincount(r[mask], minlength=T).astype(np.int64)

        c.duplicates += per_thread(duplicate)
        c.out_of_order += per_thread(late)
        c.distinct += per_thread(first_seen)
        c.backwards += per_thread(back)
        displacement = np.where(late, before_max - k, 0)
        c.max_displacement[ranks] = np.maximum(c.max_displacement[ranks], np.maximum.reduceat(displacement, heads))
        self.segment[ranks] = segment[tails]
        self.hwm[ranks] = np.maximum(self.hwm[ranks], np.maximum.reduceat(k, heads))
        self._tally(p, slot, k, heads, tails)

        if duplicate.any():
            self._emit("duplicate_frames", pos[duplicate], k[duplicate], r[duplicate],
                       lambda i: "a second frame for this thread and time")
        if late.any():
            d = displacement[late]
            self._emit("out_of_order_frames", pos[late], k[late], r[late],
                       lambda i: f"arrived {int(d[i])} frame{'s' if d[i] != 1 else ''} late for its thread")
        if back.any():
            gone = (prev[back] + 1 - slot[back]) / self.ctx.fps  # against the frame that should have come
            after = prev[back]
            self._emit("time_backwards", pos[back], k[back], r[back],
                       lambda i: f"time goes back {gone[i]:.6f} s: this frame follows "
                                 f"{self.ctx.key_time(after[i:i + 1])[0]}")
        if len(self.coverage) > COVERAGE_LIMIT:
            self._settle_old()

    def _tally_orderly(self, p: Frames, slot: I64, heads: I64, tails: I64) -> None:
        """The common case: every thread's frames follow on from the last one, one slot apart."""
        r = p.rank
        ranks = r[heads]
        k = (r << RANK_SHIFT) | (self.segment[r] << SLOT_BITS) | slot
        self.coverage.add_runs(k[heads], k[tails], p.pos[heads], p.pos[tails])
        self.counts.distinct[ranks] += tails - heads + 1
        if p.invalid.any():
            self.seconds.add(r[~p.invalid], slot[~p.invalid])
        else:
            self.seconds.add(r, slot)
        self.hwm[ranks] = k[tails]
        self._tally(p, slot, k, heads, tails)
        if len(self.coverage) > COVERAGE_LIMIT:
            self._settle_old()

    def _tally(self, p: Frames, slot: I64, k: I64, heads: I64, tails: I64) -> None:
        """Counts every placed frame shares (frames, invalid, corrupt, payload), and the thread's extent."""
        c, T = self.counts, len(self.ctx.threads)
        r = p.rank
        ranks = r[heads]
        bad_payload = p.payload >= 0
        c.placed += np.bincount(r, minlength=T)
        self.first_pos = min(self.first_pos, int(p.pos.min()))
        self.last_pos = max(self.last_pos, int(p.pos.max()))
        if p.invalid.any():
            c.invalid += np.bincount(r[p.invalid], minlength=T)
        if p.corrupt.any():
            c.corrupt += np.bincount(r[p.corrupt], minlength=T)
        frame_nr = np.mod(slot - SLOT_BIAS, self.ctx.fps)
        c.max_frame_nr[ranks] = np.maximum(c.max_frame_nr[ranks], np.maximum.reduceat(frame_nr, heads))
        self.prev[ranks] = slot[tails]
        self.first[ranks] = np.minimum(self.first[ranks], np.minimum.reduceat(slot, heads))
        self.last[ranks] = np.maximum(self.last[ranks], np.maximum.reduceat(slot, heads))
        if bad_payload.any():
            c.payload_errors += np.bincount(r[bad_payload], minlength=T)
            words = p.payload[bad_payload]
            self._emit("payload_errors", p.pos[bad_payload], k[bad_payload], r[bad_payload],
                       lambda i: f"payload differs from the pattern sent, first at payload byte {8 * int(words[i])}")

    # ----------------------------------------------------------------- gaps
    def _gaps(self) -> tuple[I64, I64, I64, I64, I64]:
        """(rank, a, b, position of a, position of b) of every gap: slots a+1 .. b-1 unseen."""
        cov = self.coverage
        group = cov.starts >> SLOT_BITS  # thread and segment: no gap spans a step back in time
        inner = np.flatnonzero(group[1:] == group[:-1])
        return (cov.starts[inner] >> RANK_SHIFT, cov.ends[inner], cov.starts[inner + 1], cov.end_pos[inner],
                cov.start_pos[inner + 1])

    def _stand_in_arrays(self) -> tuple[I64, Mask]:
        if not self._stand_pos:
            return np.empty(0, np.int64), np.empty(0, bool)
        pos = np.concatenate(self._stand_pos)
        invalid = np.concatenate(self._stand_invalid)
        order = np.argsort(pos, kind="stable")
        return pos[order], invalid[order]

    def _settle(self, select: Mask | None) -> None:
        """Attribute stand-ins to the selected gaps, then count and report what stays missing."""
        g_rank, a, b, pa, pb = self._gaps()
        if select is not None:
            g_rank, a, b, pa, pb = g_rank[select], a[select], b[select], pa[select], pb[select]
        spos, sinv = self._stand_in_arrays()
        used = np.zeros(len(spos), dtype=bool)
        filled = np.zeros(len(a), dtype=np.int64)
        if len(spos) and len(a):
            gap, stand, slot = attribute(a, b, pa, pb, spos, self.ctx.frame_bytes)
            if len(gap):
                used[stand] = True
                filled = np.bincount(gap, minlength=len(a)).astype(np.int64)
                T = len(self.ctx.threads)
                self.counts.stand_in_invalid += np.bincount(g_rank[gap][sinv[stand]], minlength=T)
                self.counts.stand_in_corrupt += np.bincount(g_rank[gap][~sinv[stand]], minlength=T)
                damaged = ~sinv[stand]  # valid frames whose header was damaged: present in their slot
                self.seconds.add(g_rank[gap][damaged], slot[damaged] & SLOT_MASK)
                if self.watched:
                    for g, st, sl in zip(gap.tolist(), stand.tolist(), slot.tolist(), strict=True):
                        if int(spos[st]) in self.watched:
                            self.attributed[int(spos[st])] = (int(g_rank[g]), sl)
        missing = b - a - 1 - filled
        self.counts.missing += np.bincount(g_rank, weights=missing, minlength=len(self.ctx.threads)).astype(np.int64)
        self._report_missing(g_rank, a, b, pb, missing, filled)
        remaining = ~used
        self._stand_pos = [spos[remaining]]
        self._stand_invalid = [sinv[remaining]]
        self._stand_count = int(remaining.sum())

    def _report_missing(self, rank: I64, a: I64, b: I64, pb: I64, missing: I64, filled: I64) -> None:
        show = np.flatnonzero(missing > 0)
        if not len(show):
            return
        show = show[np.argsort(pb[show], kind="stable")]
        room = min(self.ctx.findings.room("missing_frames"), len(show))
        first = self.ctx.key_time(a[show[:room]] + 1)
        last = self.ctx.key_time(b[show[:room]] - 1)
        details = []
        for j, i in enumerate(show[:room]):
            n = int(missing[i])
            text = f"{n} frame{'s' if n != 1 else ''} missing from {first[j]} to {last[j]}"
            if filled[i]:
                text += f" ({int(filled[i])} more of the gap filled by invalid or damaged frames)"
            details.append(text + "; offset is the frame after the gap")
        self._emit("missing_frames", pb[show[:room]], a[show[:room]] + 1, rank[show[:room]], details.__getitem__)
        self.ctx.findings.count("missing_frames", len(show) - room)

    def _horizon(self) -> int:
        """Slots behind a thread's newest frame after which its gaps are settled early."""
        return max(64 * self.window, 1 << 16)

    def _settle_old(self) -> None:
        """Settle gaps far behind every thread's newest frame, so the interval list stays bounded."""
        bounds = self.hwm - self._horizon()
        g_rank, _, b, _, _ = self._gaps()
        select = b < bounds[g_rank]
        if not select.any():
            return
        self._settle(select)
        self.coverage.close_before(bounds)
        self._release_stand_ins()

    def _release_stand_ins(self) -> None:
        """Stand-ins before every remaining gap and before every thread's newest frame can no longer
        be attributed (a gap lies between two frames of one thread): count them now and let them go."""
        _, _, _, pa, pb = self._gaps()
        floor = np.iinfo(np.int64).max
        if len(self.coverage):
            rank = self.coverage.starts >> RANK_SHIFT
            floor = int(self.coverage.end_pos[np.r_[rank[1:] != rank[:-1], True]].min())
        if len(pa):
            floor = min(floor, int(np.minimum(pa, pb).min()))
        if len(self.held):  # a thread's next gap may start at its held frame
            floor = min(floor, int(self.held.pos.min()))
        spos, sinv = self._stand_in_arrays()
        gone = spos < floor
        # each is before some placed frame (floor is one's position): inside the span if after the first
        self._unattributed(sinv[gone], spos[gone] > self.first_pos)
        self._stand_pos, self._stand_invalid = [spos[~gone]], [sinv[~gone]]
        self._stand_count = int((~gone).sum())

    def finish(self) -> None:
        """Place the held frames, attribute stand-ins and count what is missing."""
        self.add(Frames.empty(), final=True)
        self._settle(None)
        spos, sinv = self._stand_in_arrays()
        self._unattributed(sinv, (spos > self.first_pos) & (spos < self.last_pos))
        self._stand_pos, self._stand_invalid = [], []

    def _unattributed(self, invalid: Mask, inside: Mask) -> None:
        """Stand-ins no gap took: counted, and apart those inside the stream's span."""
        self.unattributed_invalid += int(invalid.sum())
        self.unattributed_corrupt += int((~invalid).sum())
        self.loose_invalid += int((invalid & inside).sum())
        self.loose_corrupt += int((~invalid & inside).sum())
