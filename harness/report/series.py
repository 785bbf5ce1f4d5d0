"""Metrics time series as columns, and their reduction for display.

A 12-hour run at a 1 s metrics period has 43 200 samples per series; a plot needs a few hundred.
Samples are grouped into fixed-width time buckets and each bucket keeps its mean, minimum and
maximum (so a one-second dip still shows as the envelope's edge), or its sum for counters.
Empty buckets become NaN so that gaps (between scans, or where the run stopped) stay visible.
The full data stays in metrics.jsonl.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_POINTS = 400
"""Upper bound on the points per plotted series, whatever the run's length."""

GAP_PERIODS = 3.0
"""Between raw samples further apart than this many metrics periods the line is broken."""

# (column, section, key) read from each metrics.jsonl line; docs/results.md has the layout.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("sender_gbps", "sender", "gbps"),
    ("sender_frames", "sender", "frames"),
    ("sender_bytes", "sender", "bytes"),
    ("sender_cpu_pct", "sender", "cpu_pct"),
    ("sender_cpu_s", "sender", "cpu_s"),
    ("sender_rss_bytes", "sender", "rss_bytes"),
    ("recorder_gbps", "recorder", "gbps"),
    ("recorder_packets", "recorder", "packets"),
    ("recorder_lost", "recorder", "lost"),
    ("recorder_out_of_order", "recorder", "out_of_order"),
    ("recorder_bytes", "recorder", "bytes"),
    ("recorder_cpu_pct", "recorder", "cpu_pct"),
    ("recorder_rss_bytes", "recorder", "rss_bytes"),
    ("udp_in_datagrams", "udp", "InDatagrams"),
    ("udp_rcvbuf_errors", "udp", "RcvbufErrors"),
    ("udp_in_errors", "udp", "InErrors"),
)
DISK_FIELDS: tuple[str, ...] = ("write_bytes_per_s", "free_bytes", "total_bytes")
SECTIONS: tuple[str, ...] = ("sender", "recorder", "udp", "disks")


@dataclass(frozen=True)
class Reduced:
    """One series ready to plot: ``t`` in POSIX seconds, and per point the mean, lowest and highest value."""

    t: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    bucket_s: float | None  # width of a bucket, or None where the samples are shown as they are

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class MetricColumns:
    """metrics.jsonl as columns: one float array per field (NaN where a line lacked it), sorted by time."""

    t: np.ndarray
    values: dict[str, np.ndarray]
    disks: dict[str, dict[str, np.ndarray]]
    scan: list[str | None] = field(default_factory=list)
    skipped_lines: int = 0
    source_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # section: (samples, first error)

    def __len__(self) -> int:
        return len(self.t)

    def column(self, name: str) -> np.ndarray:
        return self.values.get(name, np.full(len(self.t), np.nan))

    def has(self, name: str) -> bool:
        return name in self.values and bool(np.isfinite(self.values[name]).any())

    @property
    def period_s(self) -> float:
        return median_period(self.t)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float("nan")
    return float(value)


def columns_from_rows(rows: Iterable[Mapping[str, Any]]) -> MetricColumns:
    """Gather metrics lines (already parsed) into columns. Lines without a numeric ``t`` are skipped."""
    times: list[float] = []
    scans: list[str | None] = []
    values: dict[str, list[float]] = {name: [] for name, _, _ in FIELDS}
    disk_rows: dict[str, list[int]] = {}  # per mount point: the rows that mention it
    disk_values: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, tuple[int, str]] = {}
    skipped = 0
    for row in rows:
        t = _number(row.get("t")) if isinstance(row, Mapping) else float("nan")
        if not np.isfinite(t):
            skipped += 1
            continue
        n = len(times)
        times.append(t)
        scan = row.get("scan")
        scans.append(scan if isinstance(scan, str) else None)
        for name, section, key in FIELDS:
            part = row.get(section)
            values[name].append(_number(part.get(key)) if isinstance(part, Mapping) else float("nan"))
        for section in SECTIONS:  # the engine writes {"error": ...} where a source failed that period
            part = row.get(section)
            if isinstance(part, Mapping) and "error" in part:
                count, first = errors.get(section, (0, str(part["error"])))
                errors[section] = (count + 1, first)
        row_disks = row.get("disks")
        if isinstance(row_disks, Mapping):
            for mount, stats in row_disks.items():
                if not isinstance(stats, Mapping):
                    continue
                mount = str(mount)
                if mount not in disk_rows:
                    disk_rows[mount] = []
                    disk_values[mount] = {k: [] for k in DISK_FIELDS}
                disk_rows[mount].append(n)
                for k in DISK_FIELDS:
                    disk_values[mount][k].append(_number(stats.get(k)))
    t_arr = np.asarray(times, dtype=float)
    order = np.argsort(t_arr, kind="stable")
    disks: dict[str, dict[str, np.ndarray]] = {}
    for mount, where in disk_rows.items():
        index = np.asarray(where, dtype=np.int64)
        disks[mount] = {}
        for k in DISK_FIELDS:
            column = np.full(len(times), np.nan)
            column[index] = disk_values[mount][k]
            disks[mount][k] = column[order]
    return MetricColumns(
        t=t_arr[order],
        values={name: np.asarray(col, dtype=float)[order] for name, col in values.items()},
        disks=disks,
        scan=[scans[i] for i in order],
        skipped_lines=skipped,
        source_errors=errors,
    )


def median_period(t: np.ndarray) -> float:
    """The usual spacing of the samples (1.0 if there are fewer than two)."""
    steps = np.diff(t)
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 1.0


def increments(counter: np.ndarray) -> np.ndarray:
    """Per-sample increase of a cumulative counter; the first sample is the baseline (0).

    A counter that goes down was reset (recorder restarted, new scan), and counts its new value.
    NaN samples contribute nothing and do not break the chain.
    """
    out = np.zeros(len(counter), dtype=float)
    finite = np.flatnonzero(np.isfinite(counter))
    if len(finite) < 2:
        return out
    present = counter[finite]
    step = np.diff(present)
    step = np.where(step < 0, present[1:], step)
    out[finite[1:]] = step
    return out


def rate_of(t: np.ndarray, counter: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Per-second rate of a cumulative counter (bytes, CPU seconds) times ``factor``.

    Each rate spans back to the previous sample that had the counter, so a stretch without it (the
    sender between scans) does not pile up into one spike; NaN where there is no earlier sample.
    """
    out = np.full(len(t), np.nan)
    finite = np.flatnonzero(np.isfinite(counter))
    if len(finite) < 2:
        return out
    step = increments(counter)[finite[1:]]
    dt = np.diff(t[finite])
    with np.errstate(divide="ignore", invalid="ignore"):
        out[finite[1:]] = np.where(dt > 0, step / dt * factor, np.nan)
    return out


def _bucketing(t: np.ndarray, max_points: int) -> tuple[np.ndarray, int, float] | None:
    """Bucket index per sample, bucket count and width; None when the samples fit as they are."""
    if len(t) <= max_points:
        return None
    t0 = float(t[0])
    span = float(t[-1]) - t0
    # At least two periods wide, so timing jitter never leaves a bucket empty inside a scan.
    width = max(span / max_points, 2.0 * median_period(t), 1e-9)
    count = min(int(span // width) + 1, max_points)
    index = np.minimum(((t - t0) // width).astype(np.int64), count - 1)
    return index, count, width


def _with_gaps(t: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Raw samples with a NaN point inserted wherever the spacing exceeds GAP_PERIODS periods."""
    if len(t) < 2:
        return t, columns
    gaps = np.flatnonzero(np.diff(t) > GAP_PERIODS * median_period(t)) + 1
    if not len(gaps):
        return t, columns
    gap_t = (t[gaps - 1] + t[gaps]) / 2
    return np.insert(t, gaps, gap_t), [np.insert(c, gaps, np.nan) for c in columns]


def reduce_envelope(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> Reduced:
    """Mean, minimum and maximum per time bucket (for rates, CPU, memory, free space)."""
    bucketing = _bucketing(t, max_points)
    if bucketing is None:
        rt, (ry,) = _with_gaps(t, [np.asarray(y, dtype=float)])
        return Reduced(rt, ry, ry, ry, None)
    index, count, width = bucketing
    ok = np.isfinite(y)
    n = np.bincount(index[ok], minlength=count).astype(float)
    total = np.bincount(index[ok], weights=y[ok], minlength=count)
    lo = np.full(count, np.inf)
    hi = np.full(count, -np.inf)
    np.minimum.at(lo, index[ok], y[ok])
    np.maximum.at(hi, index[ok], y[ok])
    empty = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(empty, np.nan, total / np.where(empty, 1, n))
    lo[empty] = np.nan
    hi[empty] = np.nan
    starts = float(t[0]) + width * np.arange(count)
    return Reduced(starts + width / 2, mean, lo, hi, width)


def reduce_sum(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> Reduced:
    """Sum per time bucket (for per-sample increments such as lost packets); totals are kept exactly."""
    bucketing = _bucketing(t, max_points)
    y = np.where(np.isfinite(y), y, 0.0)
    if bucketing is None:
        rt, (ry,) = _with_gaps(t, [y])
        return Reduced(rt, ry, ry, ry, None)
    index, count, width = bucketing
    total = np.bincount(index, weights=y, minlength=count)
    present = np.bincount(index, minlength=count) > 0
    total = np.where(present, total, np.nan)
    starts = float(t[0]) + width * np.arange(count)
    return Reduced(starts + width / 2, total, total, total, width)
