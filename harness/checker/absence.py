"""Frames due but absent at the edges of the stream: a thread with no frame at all, a thread starting late
or stopping early, a stream starting after or ending before its capture window.

Pure counting over each thread's first and last slot (frames since the stream's reference second). The
checker reports each kind as a finding with its count and adds the counts to the threads' missing frames,
so that frames lost (missing + invalid) include them. Every absent slot is counted once: an invalid or
damaged frame no gap took but lying inside the stream's span (a recorder's fill for the datagrams of a
thread never sent, say) stands in for an absent slot inside the span before that slot is called missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.formats.vdif.timecode import iso

EDGE_SLACK = 1
"""Frames a thread may lack at the stream's start or end without a finding: a recording may start or end
part way through a set of threads."""


@dataclass(frozen=True)
class Window:
    """The capture window in POSIX seconds; frames starting from ``start + tolerance`` up to ``end - tolerance``
    are due (the tolerance allows for the recorder's start and stop latency and the clocks' offset)."""

    start: float
    end: float
    tolerance: float

    @property
    def due_from(self) -> float:
        return self.start + self.tolerance

    @property
    def due_to(self) -> float:
        return self.end - self.tolerance

    def due_slots(self, base: float, fps: int) -> tuple[int, int]:
        """(first, last) slot of the frames due, slots counted as frames since ``base``; none when last < first."""
        # rounded to a hundredth of a frame first: POSIX seconds as floats are good to ~0.2 us, and an edge on a
        # frame boundary must not move by that
        return (math.ceil(round((self.due_from - base) * fps, 2)),
                math.ceil(round((self.due_to - base) * fps, 2)) - 1)


@dataclass
class Absent:
    """One thread's frames due but absent, by where, and how many of them stand-ins fill."""

    whole: int = 0
    """The thread has no frame: the slots of the stream's span (first to last frame of any thread)."""
    at_start: int = 0
    at_end: int = 0
    """Slots between the stream's first frame and the thread's first (its last and the stream's last),
    when more than ``EDGE_SLACK``."""
    window_start: int = 0
    window_end: int = 0
    """Slots due in the capture window before the stream's first frame (after its last)."""
    stood_invalid: int = 0
    stood_corrupt: int = 0
    """Slots of ``whole``, ``at_start`` or ``at_end`` filled by invalid (damaged) frames no gap took."""

    @property
    def due(self) -> int:
        return self.whole + self.at_start + self.at_end + self.window_start + self.window_end

    @property
    def stood_in(self) -> int:
        return self.stood_invalid + self.stood_corrupt

    @property
    def missing(self) -> int:
        return self.due - self.stood_in


def absences(first: Sequence[int], last: Sequence[int], seen: Sequence[bool], due: tuple[int, int] | None = None,
             loose_invalid: int = 0, loose_corrupt: int = 0) -> list[Absent]:
    """Per thread (by rank) what is absent, from each thread's first and last slot (``seen``: it has a frame),
    the slots due in the capture window (or None), and the loose stand-ins inside the stream's span."""
    out = [Absent() for _ in seen]
    slots = [(f, la) for f, la, s in zip(first, last, seen, strict=True) if s]
    if not slots:
        return out  # no frame placed: nothing to measure a span or a window by
    stream_first = min(f for f, _ in slots)
    stream_last = max(la for _, la in slots)
    for rank, absent in enumerate(out):
        if not seen[rank]:
            absent.whole = stream_last - stream_first + 1
        else:
            late, early = first[rank] - stream_first, stream_last - last[rank]
            absent.at_start = late if late > EDGE_SLACK else 0
            absent.at_end = early if early > EDGE_SLACK else 0
        if due is not None and due[0] <= due[1]:
            absent.window_start = max(0, min(stream_first - 1, due[1]) - due[0] + 1)
            absent.window_end = max(0, due[1] - max(stream_last + 1, due[0]) + 1)
    _stand_in(out, loose_invalid, loose_corrupt)
    return out


def _stand_in(out: list[Absent], invalid: int, corrupt: int) -> None:
    """Loose stand-ins fill absent slots inside the span: first those of threads with no frame (shared evenly
    among them), then the threads' absent starts and ends; invalid frames before damaged ones."""
    left = [invalid, corrupt]

    def take(room: int) -> tuple[int, int]:
        inv = min(room, left[0])
        cor = min(room - inv, left[1])
        left[0] -= inv
        left[1] -= cor
        return inv, cor

    whole = [a for a in out if a.whole]
    total = min(invalid + corrupt, sum(a.whole for a in whole))
    for i, absent in enumerate(whole):
        absent.stood_invalid, absent.stood_corrupt = take(total // len(whole) + (i < total % len(whole)))
    for absent in out:
        if absent.at_start + absent.at_end:
            inv, cor = take(absent.at_start + absent.at_end)
            absent.stood_invalid += inv
            absent.stood_corrupt += cor


def missing_thread_text(thread: int, absent: Absent, first: str, last: str) -> str:
    """A thread with no frame: its frames due over the stream's span (``first`` to ``last``), all lost, and how
    many of them as invalid or damaged frames in their place, how many missing."""
    text = (f"thread {thread} has no frame in the recording: all {absent.whole} of its frames due over the "
            f"stream's span ({first} to {last}) are")
    if absent.stood_in:
        return text + (f" lost, {absent.stood_in} as invalid or damaged frames in their place (e.g. a recorder's fill "
                       f"for datagrams never received) and {absent.whole - absent.stood_in} missing")
    return text + " missing"


def starts_late_text(window: Window, absent: Sequence[Absent], late: float) -> str:
    """The stream's first frame ``late`` seconds after the window's start."""
    per = max(a.window_start for a in absent)
    return (f"the stream's first frame is {late:.3f} s after the recording started ({iso(window.start)}); allowing "
            f"{window.tolerance:g} s for the recorder to start, {per} frames per thread due from "
            f"{iso(window.due_from)} are absent ({sum(a.window_start for a in absent)} in all, {len(absent)} threads)")


def ends_early_text(window: Window, absent: Sequence[Absent], early: float) -> str:
    """The stream's last frame ending ``early`` seconds before the window's end."""
    per = max(a.window_end for a in absent)
    return (f"the stream's last frame ends {early:.3f} s before the recording stopped ({iso(window.end)}); "
            f"allowing {window.tolerance:g} s for the recorder to stop, {per} frames per thread due up to "
            f"{iso(window.due_to)} are absent ({sum(a.window_end for a in absent)} in all, {len(absent)} threads): "
            "a final chunk not written, or a source that stopped early")


def window_report(window: Window, absent: Sequence[Absent]) -> dict[str, Any]:
    """The window as the checker's JSON gives it (absent frames per thread at each end, and in all)."""
    return {"start": iso(window.start), "end": iso(window.end), "tolerance_s": window.tolerance,
            "due_from": iso(window.due_from), "due_to": iso(window.due_to),
            "absent_at_start": max((a.window_start for a in absent), default=0),
            "absent_at_end": max((a.window_end for a in absent), default=0),
            "absent_frames": sum(a.window_start + a.window_end for a in absent)}
