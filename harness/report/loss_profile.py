"""The checker's per-second loss profile of each scan, as plain arrays for the report: frames present per
second (all threads) against those due, beside the recorder's own per-second counters from metrics.jsonl.

Scans of older runs carry no profile and are left out; a profile whose ``present`` is null had every
second whole (present = due). The recorder's counters are cumulative (``recorder.packets``, ``lost``),
sampled every metrics period: each sample's increase over the previous one, per second of the interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.report.formatting import parse_time
from harness.report.results import DEFAULT_NODE, as_list, as_mapping, as_number, as_text
from harness.report.series import MetricColumns, RunMetrics, rate_of

MAX_PROFILE_FIGURES = 8
"""Scans with loss drawn one figure each; the rest are in the overview only."""


@dataclass(frozen=True)
class RecorderRates:
    """The recorder's counters over one scan, per second: ``t`` the end of each sampled interval."""

    t: np.ndarray
    packets: np.ndarray
    lost: np.ndarray


@dataclass(frozen=True)
class ScanProfile:
    scan: str
    node: str
    t: np.ndarray
    """POSIX start of each second judged."""
    present: np.ndarray
    due: np.ndarray
    """Per second, summed over the threads."""
    threads: int
    short_frames: int
    short_seconds: int
    due_source: str
    recorder: RecorderRates | None = None

    @property
    def short(self) -> np.ndarray:
        return np.maximum(self.due - self.present, 0)

    @property
    def where(self) -> tuple[int, int, int]:
        """Frames short in the first second due, in its last, and in the seconds between."""
        due_seconds = np.flatnonzero(self.due)
        if not len(due_seconds):
            return 0, 0, 0
        short = self.short
        first, last = int(due_seconds[0]), int(due_seconds[-1])
        head = int(short[first])
        tail = int(short[last]) if last != first else 0
        return head, tail, int(short.sum()) - head - tail


def profile_of(scan: Mapping[str, Any]) -> ScanProfile | None:
    """A scan's profile from results.json, or None (an older run, a scan not validated, a malformed one)."""
    raw = as_mapping(as_mapping(scan.get("check")).get("profile"))
    start = parse_time(raw.get("start"))
    seconds, fps = as_number(raw.get("seconds")), as_number(raw.get("fps"))
    first, last = as_number(raw.get("due_first_frame")), as_number(raw.get("due_last_frame"))
    threads = len(as_list(raw.get("threads")))
    if start is None or not seconds or not fps or first is None or last is None or not threads:
        return None
    n, rate = int(seconds), int(fps)
    lo = np.arange(n, dtype=np.int64) * rate
    due = np.maximum(np.minimum(lo + rate - 1, int(last)) - np.maximum(lo, int(first)) + 1, 0) * threads
    present_raw = raw.get("present")
    present = due.copy() if present_raw is None else np.asarray(
        [as_number(v) or 0 for v in as_list(present_raw)], dtype=np.int64)
    if len(present) != n:
        return None
    return ScanProfile(
        scan=as_text(scan.get("name")) or "", node=as_text(scan.get("recorder_node")) or DEFAULT_NODE,
        t=start.timestamp() + np.arange(n, dtype=float), present=present, due=due, threads=threads,
        short_frames=int(as_number(raw.get("short_frames")) or 0),
        short_seconds=int(as_number(raw.get("short_seconds")) or 0), due_source=as_text(raw.get("due_source")) or "")


def recorder_rates(columns: MetricColumns, t0: float, t1: float) -> RecorderRates | None:
    """The recorder's packets and lost per second over the samples from ``t0`` up to one period after ``t1``."""
    if not columns.has("recorder_packets"):
        return None
    packets = rate_of(columns.t, columns.column("recorder_packets"))
    lost = rate_of(columns.t, columns.column("recorder_lost")) if columns.has("recorder_lost") \
        else np.full(len(columns.t), np.nan)
    inside = (columns.t > t0) & (columns.t <= t1 + columns.period_s)
    if not inside.any():
        return None
    return RecorderRates(columns.t[inside], packets[inside], lost[inside])


def scan_profiles(scans: Sequence[Any], metrics: RunMetrics | None) -> list[ScanProfile]:
    """Every scan's profile, in run order, each with its recorder node's counters over the scan."""
    out = []
    for scan in scans:
        profile = profile_of(as_mapping(scan))
        if profile is None:
            continue
        columns = metrics.nodes.get(profile.node) if metrics is not None else None
        if columns is None and metrics is not None and len(metrics.nodes) == 1:
            columns = next(iter(metrics.nodes.values()))
        if columns is not None and len(columns) > 1:
            rates = recorder_rates(columns, float(profile.t[0]), float(profile.t[-1]) + 1.0)
            profile = ScanProfile(**{**profile.__dict__, "recorder": rates})
        out.append(profile)
    return out


def lossy(profiles: Sequence[ScanProfile]) -> list[ScanProfile]:
    """The scans with a second short, the first MAX_PROFILE_FIGURES of them."""
    return [p for p in profiles if p.short_frames][:MAX_PROFILE_FIGURES]
