"""What a check found: counts per thread and overall, findings, statistics; and its JSON form.

The JSON field names are the ones docs/results.md promises to the report and scenario engine.
Findings keep the first few of each kind in full (kind, byte offset, chunk file, thread, time,
detail) and count every one, so a recording with a million faults still gives a small document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.frame_counts import FrameCounts

SCHEMA = 1


@dataclass(frozen=True)
class Finding:
    """One fault: where it is (file and byte offset in that file), which thread, when, and what."""

    kind: str
    offset: int | None
    file: str | None
    thread: int | None
    time: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Findings:
    """Collects findings: every one counted, the first ``keep`` of each kind kept."""

    def __init__(self, keep: int = 10) -> None:
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self._kept: dict[str, list[Finding]] = {}

    def room(self, kind: str) -> int:
        """How many more findings of this kind would be kept."""
        return max(0, self.keep - len(self._kept.get(kind, ())))

    def add(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        kept = self._kept.setdefault(finding.kind, [])
        if len(kept) < self.keep:
            kept.append(finding)

    def count(self, kind: str, n: int) -> None:
        """Count ``n`` findings of a kind whose details are not kept (past the first few)."""
        if n:
            self.counts[kind] += int(n)

    def replace(self, old: Finding, new: Finding) -> None:
        """Swap a kept finding for a fuller one (e.g. once a stand-in frame's thread is known)."""
        kept = self._kept.get(old.kind, [])
        for i, finding in enumerate(kept):
            if finding is old:
                kept[i] = new

    def listing(self) -> list[Finding]:
        """Kept findings, grouped by kind in the order kinds first appeared, each in time order (those
        without a time by file and offset)."""
        out: list[Finding] = []
        for kept in self._kept.values():
            out.extend(sorted(kept, key=lambda f: (f.time or "", f.file or "", -1 if f.offset is None else f.offset)))
        return out


@dataclass
class ThreadReport:
    """The counts of one thread (frames whose header names it, plus stand-ins attributed to it)."""

    thread: int
    frame_counts: FrameCounts = field(default_factory=FrameCounts)
    first_time: str | None = None
    last_time: str | None = None
    frame_rate: int | None = None
    """Frame rate seen: the highest frame number of the thread plus one."""
    max_displacement: int = 0
    """Largest out-of-order distance, in frames of this thread."""
    time_backwards: int = 0
    absent_at_start: int = 0
    absent_at_end: int = 0
    """Frames the thread lacks before its first / after its last frame, compared with the stream's."""
    window_absent_at_start: int = 0
    window_absent_at_end: int = 0
    """Frames due in the capture window before the stream's first / after its last frame (a window given)."""

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        del doc["thread"], doc["frame_counts"]
        return {**self.frame_counts.to_json(), **doc}


@dataclass
class CheckResult:
    """The checker's verdict on one recording; ``to_json()`` is ``vdif-check --json``."""

    source: dict[str, Any]
    frame_counts: FrameCounts = field(default_factory=FrameCounts)
    stray_bytes: int = 0
    """Bytes skipped where a frame should have started (lost synchronisation)."""
    truncated_bytes: int = 0
    """Bytes of partial frames at the end of a file, chunk or Mark6 block."""
    bytes: int = 0
    fill_frames: int = 0
    """Invalid frames carrying jive5ab's fill pattern (0x11223344), a subset of ``invalid_frames``."""
    time_backwards: int = 0
    max_displacement: int = 0
    """Largest out-of-order distance of any thread, in frames of that thread."""
    start_time: str | None = None
    end_time: str | None = None
    """Start time of the last frame (as ``last_time`` per thread); ``duration_s`` covers the last frame too."""
    duration_s: float = 0.0
    frame_bytes: int | None = None
    frame_rate: int | None = None
    frame_rate_source: str | None = None
    station: str | None = None
    payload: str | None = None
    threads: dict[int, ThreadReport] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    statistics: dict[int, dict[str, Any]] = field(default_factory=dict)
    window: dict[str, Any] | None = None
    """The capture window held against the stream (start, end, tolerance_s, due_from, due_to, absent frames per
    thread at its start and end, absent_frames in all); None when none was given."""
    profile: dict[str, Any] | None = None
    """Valid distinct frames per second against those due (see ``profile.LossProfile.to_json``); None without
    frames."""
    elapsed_s: float = 0.0

    @property
    def clean(self) -> bool:
        """No finding of any kind."""
        return not any(self.counts.values())

    @property
    def gbps(self) -> float:
        """Checking speed, GB/s of recording per second of wall time."""
        return self.bytes / self.elapsed_s / 1e9 if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """One line: the counts that matter."""
        if self.clean:
            return f"clean: {self.frame_counts.frames} frames, {len(self.threads)} threads, {self.bytes} bytes"
        parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts.items() if n]
        return f"{self.frame_counts.frames} frames; findings: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": SCHEMA, "clean": self.clean, "source": self.source,
                               **self.frame_counts.to_json()}
        for name in ("stray_bytes", "truncated_bytes", "bytes", "fill_frames", "time_backwards",
                     "max_displacement", "start_time", "end_time", "duration_s", "frame_bytes", "frame_rate",
                     "frame_rate_source", "station", "payload", "window", "profile"):
            doc[name] = getattr(self, name)
        doc["threads"] = {str(t): report.to_json() for t, report in sorted(self.threads.items())}
        doc["findings"] = [f.to_json() for f in self.findings]
        doc["counts"] = dict(self.counts)
        if self.statistics:
            doc["statistics"] = {str(t): stats for t, stats in sorted(self.statistics.items())}
        doc["elapsed_s"] = round(self.elapsed_s, 6)
        return doc
