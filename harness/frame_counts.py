"""The frame counts of a recording, of one thread of it, or of a scan: one type for the checker, the engine
and the report, and one table naming every count.

results.json keeps each count flat, under its name (``"duplicate_frames": 0``), beside the other fields of
the check, the thread or the scan, as docs/results.md promises; older run folders read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Count:
    """One count as the harness names and shows it."""

    name: str
    """Its key in results.json, and the name of its threshold when it has one."""
    label: str
    """Its column heading in the report."""
    description: str
    judged: bool
    """A scenario's thresholds put an upper limit on it (per scan, and on the run's total)."""


LOST = Count("lost_frames", "lost", "frames due (sent, or expected of an external stream) that did not arrive "
             "as valid distinct frames; counted by the scenario engine, not the checker", judged=True)

COUNTS = (
    Count("frames", "recorded", "every whole frame in the recording, valid or not (with those standing in for "
          "absent frames)", judged=False),
    Count("valid_frames", "valid", "frames with the invalid bit clear: frames - invalid_frames", judged=False),
    LOST,
    Count("invalid_frames", "invalid", "frames with the invalid bit set (jive5ab's fill frames for lost "
          "datagrams among them)", judged=True),
    Count("missing_frames", "missing", "frames absent from a thread's sequence: gaps, absent threads, late "
          "starts and early ends", judged=False),
    Count("duplicate_frames", "duplicate", "a second frame for the same thread and time", judged=True),
    Count("out_of_order_frames", "out of order", "frames arriving after a later frame of their thread "
          "(jive5ab's definition)", judged=True),
    Count("payload_errors", "payload errors", "pattern streams: frames whose payload differs from what the "
          "sender generated", judged=True),
    Count("corrupt_headers", "corrupt headers", "valid frames breaking a header rule, or with a time out of "
          "line with both neighbours of their thread", judged=True),
)
"""Every frame count, in the order the report shows them."""

JUDGED = tuple(c for c in COUNTS if c.judged)
"""The counts a scenario's thresholds limit: the report's per-scan columns, the pytest items' properties."""


@dataclass(frozen=True)
class FrameCounts:
    """What the checker counts in a recording or one thread of it; a scan keeps its check's."""

    frames: int = 0
    invalid_frames: int = 0
    missing_frames: int = 0
    duplicate_frames: int = 0
    out_of_order_frames: int = 0
    corrupt_headers: int = 0
    payload_errors: int = 0

    @property
    def valid_frames(self) -> int:
        return self.frames - self.invalid_frames

    def __add__(self, other: FrameCounts) -> FrameCounts:
        return FrameCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def to_json(self) -> dict[str, int]:
        """Every count of the table the checker makes, by name (valid_frames included)."""
        return {c.name: getattr(self, c.name) for c in COUNTS if c is not LOST}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FrameCounts:
        """The counts of a check's (or a thread's) JSON; a count it lacks is 0, but for frames, which a document
        that gives only the valid ones has as valid plus invalid."""
        counts = {f.name: int(doc.get(f.name) or 0) for f in fields(cls)}
        if doc.get("frames") is None:
            counts["frames"] = int(doc.get("valid_frames") or 0) + counts["invalid_frames"]
        return cls(**counts)
