"""What one scan gave: sender figures, recorder figures and the checker's counts, combined (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COUNTS = ("valid_frames", "invalid_frames", "duplicate_frames", "out_of_order_frames", "payload_errors",
          "corrupt_headers")


@dataclass
class ScanOutcome:
    """One scan as results.json shows it."""

    name: str
    started: str
    finished: str = ""
    duration_s: float = 0.0
    frames_sent: int | None = None
    """None for an external source: the harness does not know what was sent."""
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
        """Take the checker's counts; lost = sent frames that did not arrive as valid distinct frames."""
        self.check = check
        self.validated = True
        self.validated_on = check.get("validated_on")
        for name in COUNTS:
            setattr(self, name, int(check.get(name, 0)))
        self.missing_frames = int(check.get("missing_frames", 0))
        distinct_valid = self.valid_frames - self.duplicate_frames
        if self.frames_sent is None:  # external source: gaps, and fill frames standing in for lost datagrams
            self.lost_frames = self.missing_frames + self.invalid_frames
        else:
            self.lost_frames = max(0, self.frames_sent - distinct_valid)
        frame_bytes = int(check.get("frame_bytes") or frame_bytes)  # what was recorded, for external streams
        if self.duration_s > 0:
            self.rate_gbps = round(distinct_valid * frame_bytes * 8 / self.duration_s / 1e9, 6)

    def summary(self) -> str:
        """One line naming what went wrong in this scan (empty when it passed)."""
        parts = [*self.problems, *self.breaches]
        if self.stopped_early:
            parts.append("the recorder stopped recording by itself before record=off")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
