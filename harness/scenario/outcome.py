"""What one scan gave: sender figures, recorder figures and the checker's counts, combined (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COUNTS = ("valid_frames", "invalid_frames", "duplicate_frames", "out_of_order_frames", "payload_errors",
          "corrupt_headers")
STREAM_FINDINGS = ("missing_thread", "thread_starts_late", "thread_stops_early", "stream_starts_late",
                   "stream_ends_early", "first_second_short", "tail_missing", "station", "frame_size", "frame_rate",
                   "frame_count")
"""Findings of the stream against what was declared for it: a failed scan's line names them (threads, counts)."""
SHOWN_FINDINGS = 4


@dataclass
class ScanOutcome:
    """One scan as results.json shows it."""

    name: str
    started: str
    finished: str = ""
    duration_s: float = 0.0
    frames_sent: int | None = None
    """None for an external source: the harness does not know what was sent (but for its stand-in's frames)."""
    frames_expected: int | None = None
    """With --stand-in-sender: the frames the declared stream carried over the stand-in's run, every thread's
    (a skipped thread's too); the checker expects them, and lost counts against them. None otherwise."""
    stand_in: bool = False
    """An external stream sent by the harness's vdif-send standing in for the CBF (--stand-in-sender)."""
    capture_started: float | None = None
    capture_stopped: float | None = None
    """POSIX times the recorder took record=on (its reply) and was sent record=off: the capture window."""
    valid_frames: int = 0
    lost_frames: int = 0
    invalid_frames: int = 0
    duplicate_frames: int = 0
    out_of_order_frames: int = 0
    payload_errors: int = 0
    corrupt_headers: int = 0
    missing_frames: int = 0
    rate_gbps: float = 0.0
    nominal_gbps: float = 0.0
    sender_gbps: float | None = None
    passed: bool = False
    validated: bool = False
    interrupted: bool = False
    stopped_early: bool = False
    """The recorder stopped by itself before record=off (jive5ab's silent failure on a short datagram)."""
    breaches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Failures of the run itself for this scan (recorder error, checker could not read the scan)."""
    recorder_stats: dict[str, Any] = field(default_factory=dict)
    sender: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    recorder_node: str = "recorder"
    """The node that recorded the scan."""
    validated_on: str | None = None
    """The node the checker ran on (where the recording is): None until validated."""
    capture_block: str | None = None
    """The capture block id this scan was recorded as (the katcp backend), else None."""
    recorder_claims: dict[str, Any] | None = None
    """What the control path's counters said this scan received, judged against the checker's counts."""

    def apply_check(self, check: dict[str, Any], frame_bytes: int) -> None:
        """Take the checker's counts; lost = sent (or expected) frames that did not arrive as valid distinct
        frames; for a real CBF the checker's missing frames (gaps, absent threads and edges) and invalid ones."""
        self.check = check
        self.validated = True
        self.validated_on = check.get("validated_on")
        for name in COUNTS:
            setattr(self, name, int(check.get(name, 0)))
        self.missing_frames = int(check.get("missing_frames", 0))
        distinct_valid = self.valid_frames - self.duplicate_frames
        due = self.frames_expected if self.frames_expected is not None else self.frames_sent
        if due is None:  # external source: gaps, and fill frames standing in for lost datagrams
            self.lost_frames = self.missing_frames + self.invalid_frames
        else:
            self.lost_frames = max(0, due - distinct_valid)
        frame_bytes = int(check.get("frame_bytes") or frame_bytes)  # what was recorded, for external streams
        if self.duration_s > 0:
            self.rate_gbps = round(distinct_valid * frame_bytes * 8 / self.duration_s / 1e9, 6)

    def summary(self) -> str:
        """One line naming what went wrong in this scan (empty when it passed)."""
        parts = [*self.problems, *self.breaches]
        if self.stopped_early:
            parts.append("the recorder stopped recording by itself before record=off")
        if self.breaches:  # what the stream got wrong against its declaration, naming threads and counts
            parts.extend(self.stream_findings())
        return "; ".join(parts)

    def stream_findings(self) -> list[str]:
        """The check's findings of the stream against what was declared for it, one line each (the first few)."""
        found = [f for f in self.check.get("findings", []) if f.get("kind") in STREAM_FINDINGS]
        lines = [f"{f['kind']}: {f['detail']}" for f in found[:SHOWN_FINDINGS]]
        if len(found) > SHOWN_FINDINGS:
            lines.append(f"{len(found) - SHOWN_FINDINGS} more such findings in results.json")
        return lines

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
