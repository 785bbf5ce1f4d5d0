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

from harness.report.results import DEFAULT_NODE, as_mapping, as_text

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
    ("recorder_fds", "recorder", "fds"),
    ("recorder_threads", "recorder", "threads"),
    ("harness_rss_bytes", "harness", "rss_bytes"),
    ("harness_fds", "harness", "fds"),
    ("harness_threads", "harness", "threads"),
    ("harness_results_bytes", "harness", "results_bytes"),
    ("harness_metrics_bytes", "harness", "metrics_bytes"),
    ("udp_in_datagrams", "udp", "InDatagrams"),
    ("udp_rcvbuf_errors", "udp", "RcvbufErrors"),
    ("udp_in_errors", "udp", "InErrors"),
    ("sensor_bytes_total", "sensors", "disk-bytes-total"),
    ("sensor_bytes_rate", "sensors", "disk-bytes-rate"),
    ("sensor_packets_total", "sensors", "input-packets-total"),
    ("sensor_packets_rate", "sensors", "input-packets-rate"),
    ("sensor_lost_total", "sensors", "input-packets-lost-total"),
)
DISK_FIELDS: tuple[str, ...] = ("write_bytes_per_s", "free_bytes", "total_bytes")
SECTIONS: tuple[str, ...] = ("sender", "recorder", "harness", "udp", "disks", "recorder_node", "sender_node",
                             "sensors")
PROBED_PROCESS_KEYS: tuple[str, ...] = ("cpu_pct", "rss_bytes")
"""Taken from a recorder node's probe (``recorder_node.recorder``) where the recorder's status lacks them."""


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


class ColumnsBuilder:
    """Metrics lines (already parsed) gathered one at a time into columns; lines without a numeric ``t`` are skipped."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.scans: list[str | None] = []
        self.values: dict[str, list[float]] = {name: [] for name, _, _ in FIELDS}
        self.disk_rows: dict[str, list[int]] = {}  # per mount point: the rows that mention it
        self.disk_values: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, tuple[int, str]] = {}
        self.skipped = 0

    def add(self, row: Mapping[str, Any]) -> None:
        t = _number(row.get("t")) if isinstance(row, Mapping) else float("nan")
        if not np.isfinite(t):
            self.skipped += 1
            return
        n = len(self.times)
        self.times.append(t)
        scan = row.get("scan")
        self.scans.append(scan if isinstance(scan, str) else None)
        for name, section, key in FIELDS:
            part = row.get(section)
            self.values[name].append(_number(part.get(key)) if isinstance(part, Mapping) else float("nan"))
        for section in SECTIONS:  # the engine writes {"error": ...} where a source failed that period
            part = row.get(section)
            if isinstance(part, Mapping) and "error" in part:
                count, first = self.errors.get(section, (0, str(part["error"])))
                self.errors[section] = (count + 1, first)
        row_disks = row.get("disks")
        if isinstance(row_disks, Mapping):
            for mount, stats in row_disks.items():
                if isinstance(stats, Mapping):
                    self._add_disk(n, str(mount), stats)

    def _add_disk(self, n: int, mount: str, stats: Mapping[str, Any]) -> None:
        if mount not in self.disk_rows:
            self.disk_rows[mount] = []
            self.disk_values[mount] = {k: [] for k in DISK_FIELDS}
        self.disk_rows[mount].append(n)
        for k in DISK_FIELDS:
            self.disk_values[mount][k].append(_number(stats.get(k)))

    def build(self) -> MetricColumns:
        t_arr = np.asarray(self.times, dtype=float)
        order = np.argsort(t_arr, kind="stable")
        disks: dict[str, dict[str, np.ndarray]] = {}
        for mount, where in self.disk_rows.items():
            index = np.asarray(where, dtype=np.int64)
            disks[mount] = {}
            for k in DISK_FIELDS:
                column = np.full(len(self.times), np.nan)
                column[index] = self.disk_values[mount][k]
                disks[mount][k] = column[order]
        return MetricColumns(
            t=t_arr[order],
            values={name: np.asarray(col, dtype=float)[order] for name, col in self.values.items()},
            disks=disks,
            scan=[self.scans[i] for i in order],
            skipped_lines=self.skipped,
            source_errors=self.errors,
        )


def columns_from_rows(rows: Iterable[Mapping[str, Any]]) -> MetricColumns:
    """Gather metrics lines (already parsed) into columns. Lines without a numeric ``t`` are skipped."""
    builder = ColumnsBuilder()
    for row in rows:
        builder.add(row)
    return builder.build()


def node_of(row: Mapping[str, Any]) -> str:
    """The recorder node a metrics line belongs to; lines of older runs have none (one node, 'recorder')."""
    node = row.get("node")
    return node if isinstance(node, str) and node else DEFAULT_NODE


def _probe_recorder(recorder: Any, probe: Mapping[str, Any]) -> Any:
    """The recorder's control-port status with CPU and RSS from the node probe where the status lacks them."""
    measured = as_mapping(probe.get("recorder"))
    if not any(measured.get(key) is not None for key in PROBED_PROCESS_KEYS):
        return recorder
    merged = dict(recorder) if isinstance(recorder, Mapping) else {}
    for key in PROBED_PROCESS_KEYS:
        if merged.get(key) is None and measured.get(key) is not None:
            merged[key] = measured[key]
    return merged


def recorder_node_row(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A metrics line as one recorder node saw it: UDP and disks from its own probe (``recorder_node``)
    where the line has none at top level (an inventory lab), recorder CPU and RSS likewise."""
    probe = row.get("recorder_node")
    if not isinstance(probe, Mapping) or "error" in probe:
        return {k: v for k, v in row.items() if k != "sender_node"}
    out = {k: v for k, v in row.items() if k not in ("sender_node", "recorder_node")}
    for section in ("udp", "disks"):
        if out.get(section) is None and probe.get(section) is not None:
            out[section] = probe[section]
    out["recorder"] = _probe_recorder(row.get("recorder"), probe)
    return out


def sender_node_row(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The sender node's own probe sample on a metrics line (the sender processes' CPU and RSS), if it has one."""
    probe = row.get("sender_node")
    if not isinstance(probe, Mapping):
        return None
    if "error" in probe:
        return {"t": row.get("t"), "scan": row.get("scan"), "sender_node": probe}
    return {"t": row.get("t"), "scan": row.get("scan"), "sender": as_mapping(probe.get("sender"))}


@dataclass
class RunMetrics:
    """metrics.jsonl per node: each recorder node's columns (in the order they first appear) and, where the
    lines carry it, the sender node's own probe."""

    nodes: dict[str, MetricColumns]
    sender_node: MetricColumns | None = None
    sender_node_name: str = "sender"

    @property
    def samples(self) -> int:
        return sum(len(c) for c in self.nodes.values())

    @property
    def skipped_lines(self) -> int:
        return sum(c.skipped_lines for c in self.nodes.values())

    @property
    def last_t(self) -> float | None:
        ends = [float(c.t[-1]) for c in self.nodes.values() if len(c)]
        return max(ends) if ends else None

    @property
    def named_nodes(self) -> bool:
        """True where the lines name their nodes (an inventory lab): the report then heads each node's plots."""
        return bool(self.nodes) and set(self.nodes) != {DEFAULT_NODE}


def metrics_by_node(rows: Iterable[Mapping[str, Any]]) -> RunMetrics:
    """Gather metrics lines into columns per recorder node, and the sender node's probe into its own."""
    builders: dict[str, ColumnsBuilder] = {}
    sender = ColumnsBuilder()
    sender_name = ""
    for row in rows:
        builders.setdefault(node_of(row), ColumnsBuilder()).add(recorder_node_row(row))
        sender_row = sender_node_row(row)
        if sender_row is not None:
            sender.add(sender_row)
            sender_name = sender_name or as_text(as_mapping(row.get("sender_node")).get("node")) or ""
    return RunMetrics(
        nodes={name: builder.build() for name, builder in builders.items()},
        sender_node=sender.build() if sender.times else None,
        sender_node_name=sender_name or "sender",
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
