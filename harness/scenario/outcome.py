"""What one scan gave: sender figures, recorder figures and the checker's counts, combined (pure)."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.frame_counts import LOST, FrameCounts
from harness.recorder.notes import RecorderNote

STREAM_FINDINGS = ("missing_thread", "thread_starts_late", "thread_stops_early", "stream_starts_late",
                   "stream_ends_early", "first_second_short", "tail_missing", "station", "frame_size", "frame_rate",
                   "frame_count")
"""Findings of the stream against what was declared for it: a failed scan's line names them (threads, counts)."""
SHOWN_FINDINGS = 4
RECORDING_CHANGED = ("file_shrank",)
"""Findings that the recording changed while it was checked: each fails the scan (what was not read is lost)."""


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
    frame_counts: FrameCounts = field(default_factory=FrameCounts)
    """The checker's counts of the recording (all 0 until validated)."""
    lost_frames: int = 0
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
    kernel_udp: dict[str, int] = field(default_factory=dict)
    """The recorder node's kernel UDP counters over the scan (RcvbufErrors: dropped at its socket), where the
    recorder runs on this machine."""
    faults: list[dict[str, Any]] = field(default_factory=list)
    """The faults injected in this scan (results.json lists them at the top, under ``faults``)."""
    recorder_notes: list[dict[str, Any]] = field(default_factory=list)
    """Everything the recorder said about this scan, verbatim (`RecorderNote.to_json`: text, source, kind,
    data_lost); each note with data_lost is also a problem that fails the scan."""
    recorder_replies: dict[str, str] = field(default_factory=dict)
    """The recorder's raw final replies (record? before and after, evlbi?, error?, ...)."""

    frozen: bytes | None = field(default=None, repr=False)
    """The scan as results.json has it (``json_text``), compressed, once it is judged and written (else None)."""

    def freeze(self) -> None:
        """Once the scan is judged and written: the whole scan kept as compressed JSON text, the form results.json
        gets (``default=str`` as it is written), and its bulky parts (the checker's answer, the sender's statistics,
        the recorder's words) dropped as Python objects. A night's run keeps every scan and rewrites results.json
        after each: this keeps each scan to about a kilobyte, and a rewrite to one scan's objects at a time. What
        the thresholds and a failed scan's line still need (counts, problems, the stream's findings) stays."""
        if self.frozen is not None:
            return
        self.frozen = zlib.compress(self.json_text().encode())
        self.check = {"findings": [f for f in self.check.get("findings", []) if f.get("kind") in STREAM_FINDINGS]}
        self.sender, self.recorder_replies, self.recorder_notes = {}, {}, []

    def json_text(self) -> str:
        """``to_json`` as compact JSON text (what results.json holds for the scan)."""
        if self.frozen is not None:
            return zlib.decompress(self.frozen).decode()
        return json.dumps(self.to_json(), separators=(",", ":"), default=str)

    def keep_recorder_notes(self, said: list[RecorderNote], replies: dict[str, str]) -> None:
        """Keep what the recorder said; what means data was lost or mishandled fails the scan, in its words
        (a stop by itself fails it already, as ``stopped_early``)."""
        self.recorder_notes.extend(n.to_json() for n in said)
        self.recorder_replies.update(replies)
        self.problems.extend(n.line() for n in said if n.data_lost and n.kind != "stopped_early")

    def apply_check(self, check: dict[str, Any], frame_bytes: int) -> None:
        """Take the checker's counts; lost = sent (or expected) frames that did not arrive as valid distinct
        frames; for a real CBF the checker's missing frames (gaps, absent threads and edges) and invalid ones."""
        self.check = check
        self.validated = True
        self.validated_on = check.get("validated_on")
        counts = self.frame_counts = FrameCounts.from_json(check)
        self.problems.extend(f"checker: {f['detail']}" for f in check.get("findings", [])
                             if f.get("kind") in RECORDING_CHANGED)
        distinct_valid = counts.valid_frames - counts.duplicate_frames
        due = self.frames_expected if self.frames_expected is not None else self.frames_sent
        if due is None:  # external source: gaps, and fill frames standing in for lost datagrams
            self.lost_frames = counts.missing_frames + counts.invalid_frames
        else:
            self.lost_frames = max(0, due - distinct_valid)
        frame_bytes = int(check.get("frame_bytes") or frame_bytes)  # what was recorded, for external streams
        if self.duration_s > 0:
            self.rate_gbps = round(distinct_valid * frame_bytes * 8 / self.duration_s / 1e9, 6)

    def counts(self) -> dict[str, int]:
        """Every frame count of the scan by its name in the table (harness/frame_counts.py): the checker's, and
        lost_frames."""
        return {**self.frame_counts.to_json(), LOST.name: self.lost_frames}

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
        """The scan with its counts flat beside the other fields, each under its name."""
        if self.frozen is not None:
            return dict(json.loads(zlib.decompress(self.frozen)))
        doc = asdict(self)
        del doc["frame_counts"]
        del doc["faults"]  # listed once, at the top of results.json
        del doc["frozen"]
        return {**doc, **self.counts()}
