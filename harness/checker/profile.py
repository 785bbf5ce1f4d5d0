"""The per-second loss profile of a recording: valid distinct frames present per thread per whole second of
header time, against the frames due in that second, and the findings naming where loss sits in the scan.

``SecondTally`` counts as the windows pass (one ``bincount`` over the window's seconds, so its cost does not
depend on the scan's length); ``loss_profile`` is pure arithmetic over those counts and the span of frames
due. The span is the sender's schedule where the harness sent the stream (its first frame to the end of its
last), else the capture window's due frames, else the stream's own first to last frame; a second is due the
frames of the span that fall in it, so the first and last second of a scan may be partial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.result import Finding
from harness.checker.rules import SLOT_BIAS

I64 = npt.NDArray[np.int64]
GROW_SECONDS = 64
"""Seconds the tally grows by at once at its end (a scan's seconds arrive one after another)."""
LISTED_SECONDS = 16
"""Short seconds listed per thread in the JSON (all are counted)."""
NAMED_THREADS = 4
"""Threads named in a finding's text (the rest counted)."""


class SecondTally:
    """Frames per thread rank per whole second since the stream's reference second, over the seconds met."""

    def __init__(self, threads: int, fps: int) -> None:
        self.threads = threads
        self.fps = fps
        self.first = 0
        """Second of column 0."""
        self.used = 0
        """Columns holding seconds met so far (the array may be wider)."""
        self.counts = np.zeros((threads, 0), dtype=np.int64)

    def add(self, rank: I64, slot: I64) -> None:
        """Count frames of these thread ranks at these slots (frames since the reference second, biased)."""
        if not len(rank):
            return
        second = (slot - SLOT_BIAS) // self.fps
        lo, hi = int(second.min()), int(second.max())
        self._cover(lo, hi)
        width = hi - lo + 1
        tally = np.bincount(rank * width + (second - lo), minlength=self.threads * width)
        start = lo - self.first
        self.counts[:, start:start + width] += tally.reshape(self.threads, width)

    def _cover(self, lo: int, hi: int) -> None:
        if not self.used:
            self.first, self.used = lo, hi - lo + 1
            self.counts = np.zeros((self.threads, self.used + GROW_SECONDS), dtype=np.int64)
            return
        if lo < self.first:
            self.counts = np.pad(self.counts, ((0, 0), (self.first - lo, 0)))
            self.used += self.first - lo
            self.first = lo
        need = hi - self.first + 1
        if need > self.counts.shape[1]:
            self.counts = np.pad(self.counts, ((0, 0), (0, need - self.counts.shape[1] + GROW_SECONDS)))
        self.used = max(self.used, need)

    def seconds(self) -> tuple[int, I64]:
        """(first second, counts per rank per second) of the seconds met."""
        return self.first, self.counts[:, :self.used]


@dataclass(frozen=True)
class Due:
    """The frames due: slots ``first`` to ``last`` (frames since the reference second, unbiased) of every
    thread, and where that span comes from (``schedule``, ``window`` or ``stream``)."""

    first: int
    last: int
    source: str


@dataclass
class LossProfile:
    """Frames present against frames due, per thread per second, from second ``start`` (since the reference
    second) on."""

    start: int
    fps: int
    threads: tuple[int, ...]
    due: Due
    present: I64
    """Per thread rank, per second judged."""
    expected: I64
    """Per second judged: frames due from each thread."""

    @property
    def short(self) -> I64:
        """Frames short per thread rank per second (none where more than due are present)."""
        return np.maximum(self.expected[None, :] - self.present, 0)

    def to_json(self, time_of: Callable[[float], str]) -> dict[str, Any]:
        """Compact: the per-second sums over threads only where some second is short; per thread only the
        seconds short (the first few listed, all counted). ``time_of`` turns seconds since the reference
        second into ISO text."""
        short = self.short
        per_thread: dict[str, Any] = {}
        for rank, thread in enumerate(self.threads):
            where = np.flatnonzero(short[rank])
            if len(where):
                listed = where[:LISTED_SECONDS]
                per_thread[str(thread)] = {
                    "seconds": len(where), "frames": int(short[rank].sum()),
                    "first": [[int(s), int(self.present[rank, s])] for s in listed]}
        lossy = bool(short.any())
        return {
            "start": time_of(self.start), "seconds": len(self.expected), "fps": self.fps,
            "threads": list(self.threads), "due_source": self.due.source,
            "due_from": time_of(self.due.first / self.fps), "due_to": time_of((self.due.last + 1) / self.fps),
            "due_first_frame": self.due.first - self.start * self.fps,
            "due_last_frame": self.due.last - self.start * self.fps,
            "short_seconds": int(short.any(axis=0).sum()), "short_frames": int(short.sum()),
            "present": self.present.sum(axis=0).tolist() if lossy else None,
            "short": per_thread,
        }


def expected_per_second(start: int, seconds: int, fps: int, due: Due) -> I64:
    """Frames of the due span in each of ``seconds`` seconds from ``start``, per thread."""
    lo = (start + np.arange(seconds, dtype=np.int64)) * fps
    return np.maximum(np.minimum(lo + fps - 1, due.last) - np.maximum(lo, due.first) + 1, 0)


def loss_profile(first_second: int, counts: I64, fps: int, threads: Sequence[int], due: Due) -> LossProfile:
    """The profile over the seconds met and those of the due span."""
    due_lo, due_hi = due.first // fps, due.last // fps
    start = min(first_second, due_lo) if counts.shape[1] else due_lo
    end = max(first_second + counts.shape[1] - 1, due_hi) if counts.shape[1] else due_hi
    present = np.zeros((len(threads), end - start + 1), dtype=np.int64)
    if counts.shape[1]:
        present[:, first_second - start:first_second - start + counts.shape[1]] = counts
    return LossProfile(start, fps, tuple(threads), due, present, expected_per_second(start, end - start + 1, fps, due))


def first_second_text(profile: LossProfile, second: int) -> str | None:
    """The first second with frames due, if a thread has fewer than due there."""
    due = int(profile.expected[second])
    short = profile.short[:, second]
    named = [(t, int(profile.present[r, second])) for r, t in enumerate(profile.threads) if short[r]]
    if not named:
        return None
    shown = ", ".join(f"thread {t} has {n} of {due}" for t, n in named[:NAMED_THREADS])
    more = f" (and {len(named) - NAMED_THREADS} more threads)" if len(named) > NAMED_THREADS else ""
    partial = f", {due / profile.fps:.3f} s of it due" if due < profile.fps else ""
    return (f"frames missing in the first second of the scan{partial}: {shown}{more}; "
            f"{int(short.sum())} frames short in that second")


def tail_text(profile: LossProfile, stream_last: int, last_time: str, due_to: str) -> str | None:
    """Frames due after the stream's last frame (``stream_last``, unbiased slot), every thread's."""
    after = profile.due.last - stream_last
    if after <= 0:
        return None
    frames = after * len(profile.threads)
    return (f"at the tail: the last {after / profile.fps:.3f} s of the scan missing ({frames} frames, "
            f"{len(profile.threads)} threads): no frame after {last_time}, frames were due up to {due_to}")


def profile_findings(profile: LossProfile, stream: tuple[int, int], time_of: Callable[[float], str]) -> list[Finding]:
    """Findings naming the loss in the scan's first second and at its tail, ``stream`` being the stream's first
    and last slot. Against a capture window, a stream starting late or ending early is ``stream_starts_late``'s
    and ``stream_ends_early``'s to say; for a span taken from the stream itself, nothing is said: its edges are
    the recording's, not the scan's, and gaps and late threads have their own findings."""
    found: list[Finding] = []
    if profile.due.source == "stream":
        return found
    due_seconds = np.flatnonzero(profile.expected)
    late = profile.due.source == "window" and stream[0] > profile.due.first
    if len(due_seconds) and not late:
        second = int(due_seconds[0])
        text = first_second_text(profile, second)
        if text is not None:
            found.append(Finding("first_second_short", None, None, None, time_of(profile.start + second), text))
    if profile.due.source == "schedule":
        stream_last = stream[1]
        text = tail_text(profile, stream_last, time_of(stream_last / profile.fps),
                         time_of((profile.due.last + 1) / profile.fps))
        if text is not None:
            found.append(Finding("tail_missing", None, None, None, time_of((stream_last + 1) / profile.fps), text))
    return found


def due_span(base: float, fps: int, stream: tuple[int, int], schedule: tuple[float, float] | None,
             window: tuple[float, float] | None) -> Due:
    """The frames due, in unbiased slots: the schedule's (POSIX start of its first frame to the end of its
    last), else the capture window's due span, else the stream's own first to last slot (``stream``)."""
    for source, span in (("schedule", schedule), ("window", window)):
        if span is not None:
            # rounded to a hundredth of a frame first, as the capture window's edges are (see absence.Window)
            first = int(np.ceil(round((span[0] - base) * fps, 2)))
            last = int(np.ceil(round((span[1] - base) * fps, 2))) - 1
            if first <= last:
                return Due(first, last, source)
    return Due(stream[0], stream[1], "stream")
