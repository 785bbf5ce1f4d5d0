"""What the run report plots over time, as plain values: figures, panels and reduced lines.

Kept apart from matplotlib so the choice of series, units and reductions is tested with plain
arrays; ``plots.py`` only draws what this module describes.
"""

from __future__ import annotations

import posixpath
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from harness.report.formatting import html_id
from harness.report.results import DEFAULT_NODE
from harness.report.series import (
    MAX_POINTS,
    MetricColumns,
    Reduced,
    RunMetrics,
    increments,
    rate_of,
    reduce_envelope,
    reduce_sum,
)

MAX_MOUNT_LINES = 8
"""More mount points than this are drawn as their total and their spread, not one line each."""

GIB = 1024.0**3
MIB = 1024.0**2


@dataclass(frozen=True)
class Line:
    label: str
    series: Reduced
    style: str = "envelope"  # envelope: mean with a min/max band; line: mean only; step: counts per bucket
    role: str = ""  # sender | recorder | error | ... (picks the colour)


@dataclass(frozen=True)
class Panel:
    ylabel: str
    lines: list[Line]
    reference: float | None = None  # a horizontal dashed line (the nominal rate)
    reference_label: str = ""
    note: str = ""


@dataclass(frozen=True)
class TimeFigure:
    key: str
    title: str
    panels: list[Panel]
    caption: str = ""
    node: str = ""  # the node it shows, where the run names its nodes

    @property
    def full_title(self) -> str:
        return f"{self.title} (node {self.node})" if self.node else self.title

    @property
    def points(self) -> int:
        return sum(len(line.series) for p in self.panels for line in p.lines)


@dataclass(frozen=True)
class FaultBand:
    """An injected fault over time (results.json's ``faults``): shaded on every time plot of its node."""

    start: float
    end: float
    label: str
    node: str = ""


def fault_bands(faults: object) -> list[FaultBand]:
    """The bands of results.json's ``faults`` list (entries never applied have no start and are left out)."""
    bands = []
    for fault in faults if isinstance(faults, list) else []:
        if not isinstance(fault, dict) or not isinstance(fault.get("start"), int | float):
            continue
        end = fault.get("end")
        bands.append(FaultBand(float(fault["start"]), float(end) if isinstance(end, int | float) else
                               float(fault["start"]), f"{fault.get('kind', 'fault')} (scan {fault.get('scan', '?')})",
                               str(fault.get("node") or "")))
    return bands


def bands_for(bands: list[FaultBand], timeline: Timeline) -> list[FaultBand]:
    """A node's own faults on its plots (all of them where the run names no node, or on the sender node)."""
    if not timeline.node or timeline.role == "sender":
        return bands
    return [b for b in bands if not b.node or b.node == timeline.node]


@dataclass
class Timeline:
    figures: list[TimeFigure] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be plotted, and why
    notes: list[str] = field(default_factory=list)  # gaps in what was plotted (a metrics source that failed)
    node: str = ""  # "" for a run whose metrics name no node (one recorder, older runs)
    role: str = "recorder"  # recorder | sender


def _scaled(r: Reduced, factor: float) -> Reduced:
    return Reduced(r.t, r.mean * factor, r.lo * factor, r.hi * factor, r.bucket_s)


def _per_bucket_label(r: Reduced, what: str) -> str:
    if r.bucket_s is None:
        return f"{what} per sample"
    return f"{what} per {format_seconds(r.bucket_s)}"


def format_seconds(seconds: float) -> str:
    """A short duration for axis labels: 2 s, 1.5 min, 3 h."""
    if seconds < 90:
        return f"{seconds:.3g} s"
    if seconds < 5400:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def derived(c: MetricColumns, name: str, counter: str, factor: float) -> np.ndarray | None:
    """A rate as the metrics give it, or else derived from its cumulative counter; None if neither is there."""
    if c.has(name):
        return c.column(name)
    if c.has(counter):
        return rate_of(c.t, c.column(counter), factor)
    return None


def _throughput(c: MetricColumns, nominal_gbps: float | None, n: int) -> TimeFigure | None:
    lines = []
    for label, name, counter, role in (("sent", "sender_gbps", "sender_bytes", "sender"),
                                       ("recorded", "recorder_gbps", "recorder_bytes", "recorder")):
        gbps = derived(c, name, counter, 8 / 1e9)
        if gbps is not None:
            lines.append(Line(label, reduce_envelope(c.t, gbps, n), role=role))
    if not lines:
        return None
    return TimeFigure("throughput", "Throughput: sent vs recorded",
                      [Panel("Gbit/s", lines, nominal_gbps, "nominal")],
                      caption="Line: mean per bucket; band: lowest to highest sample in the bucket.")


def _loss(c: MetricColumns, n: int) -> TimeFigure | None:
    panels: list[Panel] = []
    if c.has("recorder_lost"):
        lost = reduce_sum(c.t, increments(c.column("recorder_lost")), n)
        total = int(np.nansum(lost.mean))
        panels.append(Panel(_per_bucket_label(lost, "packets"), [Line("lost", lost, "step", "error")],
                            note=f"{total:,} packets lost in the metrics"))
    if c.has("recorder_out_of_order"):
        ooo = reduce_sum(c.t, increments(c.column("recorder_out_of_order")), n)
        if panels:
            panels[0].lines.append(Line("out of order", ooo, "step", "warning"))
        else:
            panels.append(Panel(_per_bucket_label(ooo, "packets"), [Line("out of order", ooo, "step", "warning")]))
    udp = [Line(label, reduce_sum(c.t, increments(c.column(name)), n), "step", role)
           for label, name, role in (("RcvbufErrors", "udp_rcvbuf_errors", "error"),
                                     ("InErrors", "udp_in_errors", "warning")) if c.has(name)]
    if udp:  # InErrors includes RcvbufErrors, so each is counted on its own
        totals = ", ".join(f"{int(np.nansum(line.series.mean)):,} {line.label}" for line in udp)
        panels.append(Panel(_per_bucket_label(udp[0].series, "errors"), udp,
                            note=f"kernel UDP receive errors during the run: {totals}"))
    if not panels:
        return None
    return TimeFigure("loss", "Loss and the kernel's UDP receive errors", panels,
                      caption="Counts per bucket from the recorder's counters and /proc/net/snmp on the recorder node.")


def _sensors(c: MetricColumns, n: int) -> TimeFigure | None:
    """A KATCP proxy's own sensors (the katcp backend): what the control path says, beside the figures above."""
    panels = []
    if c.has("sensor_bytes_rate") or c.has("sensor_bytes_total"):
        gbps = derived(c, "sensor_bytes_rate", "sensor_bytes_total", 1.0)
        if gbps is not None:
            panels.append(Panel("written, Gbit/s", [Line("disk-bytes-rate", _scaled(reduce_envelope(c.t, gbps, n),
                                                                                    8 / 1e9), role="recorder")]))
    if c.has("sensor_packets_rate"):
        panels.append(Panel("packets/s", [Line("input-packets-rate", reduce_envelope(c.t, c.column(
            "sensor_packets_rate"), n), role="recorder")]))
    if c.has("sensor_lost_total"):
        lost = reduce_sum(c.t, increments(c.column("sensor_lost_total")), n)
        panels.append(Panel(_per_bucket_label(lost, "packets"), [Line("input-packets-lost-total", lost, "step",
                                                                      "error")]))
    if not panels:
        return None
    return TimeFigure("sensors", "The KATCP proxy's sensors", panels,
                      caption="As the proxy reported them each metrics period; judged against disk, recorder and "
                              "checker in the scan table.")


def mount_labels(mounts: list[str]) -> tuple[dict[str, str], str]:
    """Short legend labels: the common parent folder of long mount points taken off, and named once."""
    labels = {m: m for m in mounts}
    if len(mounts) < 2 or max(len(m) for m in mounts) <= 16:
        return labels, ""
    parent = posixpath.commonpath(mounts) if all(m.startswith("/") for m in mounts) else ""
    if parent in ("", "/") or parent in mounts:
        return labels, ""
    return {m: m[len(parent):].lstrip("/") for m in mounts}, parent


def _disks(c: MetricColumns, n: int) -> TimeFigure | None:
    if not c.disks:
        return None
    mounts = sorted(c.disks)
    write: list[Line] = []
    free: list[Line] = []
    caption = ""
    if len(mounts) <= MAX_MOUNT_LINES:
        labels, parent = mount_labels(mounts)
        caption = f"Mount points under {parent}." if parent else ""
        for m in mounts:
            # Mean lines only: a band per mount point would bury the lines and double the figure's size.
            write.append(Line(labels[m], _scaled(reduce_envelope(c.t, c.disks[m]["write_bytes_per_s"], n), 1 / MIB),
                              "line"))
            free.append(Line(labels[m], _scaled(reduce_envelope(c.t, c.disks[m]["free_bytes"], n), 1 / GIB), "line"))
    else:
        rates = np.vstack([c.disks[m]["write_bytes_per_s"] for m in mounts])
        frees = np.vstack([c.disks[m]["free_bytes"] for m in mounts])
        with warnings.catch_warnings():  # 'All-NaN slice' where a metrics line had no disks
            warnings.simplefilter("ignore", RuntimeWarning)
            write.append(Line(f"all {len(mounts)} mount points",
                              _scaled(reduce_envelope(c.t, np.nansum(rates, axis=0), n), 1 / MIB)))
            write.append(Line("busiest mount point",
                              _scaled(reduce_envelope(c.t, np.nanmax(rates, axis=0), n), 1 / MIB)))
            free.append(Line(f"all {len(mounts)} mount points",
                             _scaled(reduce_envelope(c.t, np.nansum(frees, axis=0), n), 1 / GIB)))
            free.append(Line("fullest mount point",
                             _scaled(reduce_envelope(c.t, np.nanmin(frees, axis=0), n), 1 / GIB)))
    return TimeFigure("disks", "Disk write rate and free space per mount point",
                      [Panel("write MiB/s", write), Panel("free GiB", free)], caption=caption)


def _processes(c: MetricColumns, n: int, title: str = "CPU and memory of sender and recorder") -> TimeFigure | None:
    cpu = []
    for label, role in (("sender", "sender"), ("recorder", "recorder")):
        percent = derived(c, f"{role}_cpu_pct", f"{role}_cpu_s", 100.0)
        if percent is not None:
            cpu.append(Line(label, reduce_envelope(c.t, percent, n), role=role))
    rss = [Line(label, _scaled(reduce_envelope(c.t, c.column(name), n), 1 / MIB), role=role)
           for label, name, role in (("sender", "sender_rss_bytes", "sender"),
                                     ("recorder", "recorder_rss_bytes", "recorder"))
           if c.has(name)]
    panels = [p for p in (Panel("CPU %", cpu), Panel("RSS MiB", rss)) if p.lines]
    if not panels:
        return None
    return TimeFigure("processes", title, panels)


def _resources(c: MetricColumns, n: int) -> TimeFigure | None:
    """What a leak grows: memory, open files and threads of the harness and the recorder, and the harness's
    own output files (a soak judges their slopes: bench/soak.py)."""
    if not c.has("harness_fds"):
        return None
    panels = []
    for unit, key, scale in (("RSS MiB", "rss_bytes", 1 / MIB), ("open files", "fds", 1.0),
                             ("threads", "threads", 1.0)):
        lines = [Line(label, _scaled(reduce_envelope(c.t, c.column(f"{role}_{key}"), n), scale), role=colour)
                 for label, role, colour in (("harness", "harness", ""), ("recorder", "recorder", "recorder"))
                 if c.has(f"{role}_{key}")]
        panels.append(Panel(unit, lines))
    files = [Line(name, _scaled(reduce_envelope(c.t, c.column(column), n), 1 / MIB))
             for name, column in (("results.json", "harness_results_bytes"), ("metrics.jsonl", "harness_metrics_bytes"))
             if c.has(column)]
    panels.append(Panel("output MiB", files))
    return TimeFigure("resources", "Memory, open files and threads of harness and recorder; the run's own files",
                      [p for p in panels if p.lines])


PROBE_SECTIONS = {"recorder_node": "recorder node's probe", "sender_node": "sender node's probe"}
"""Sections of a metrics line that hold a node's own probe sample, as the notes name them."""


def source_note(section: str, count: int, first: str) -> str:
    return f"The {PROBE_SECTIONS.get(section, section)} metrics failed in {count:,} samples (first: {first})."


def figure_key(node: str, key: str) -> str:
    """An id for a node's figure that is safe in HTML and unique on the page (``rec1-throughput``)."""
    if not node:
        return key
    return f"{html_id(node)}-{key}"


def for_node(timeline: Timeline, node: str, role: str) -> Timeline:
    """The timeline with its node named: figure keys and titles that say which node they show."""
    if node:
        timeline.figures = [replace(f, key=figure_key(node, f.key), node=node) for f in timeline.figures]
    timeline.node, timeline.role = node, role
    return timeline


def run_timeline(columns: MetricColumns | None, nominal_gbps: float | None = None,
                 max_points: int = MAX_POINTS) -> Timeline:
    """The figures of one recorder node's 'over time' section; says what is missing instead of failing."""
    timeline = Timeline()
    if columns is None or len(columns) == 0:
        timeline.missing.append("no metrics samples, so nothing to plot over time")
        return timeline
    if len(columns) < 2:
        timeline.missing.append("only one metrics sample, too few to plot over time")
        return timeline
    makers: tuple[tuple[str, Callable[[], TimeFigure | None]], ...] = (
              ("throughput", lambda: _throughput(columns, nominal_gbps, max_points)),
              ("loss and UDP errors", lambda: _loss(columns, max_points)),
              ("disk write rate and free space", lambda: _disks(columns, max_points)),
              ("CPU and RSS", lambda: _processes(columns, max_points)))
    for section, (count, first) in sorted(columns.source_errors.items()):
        timeline.notes.append(source_note(section, count, first))
    sensors = _sensors(columns, max_points)
    if sensors is not None:  # only where a KATCP proxy was sampled: no 'missing' line for the other backends
        makers = (*makers, ("sensors", lambda: sensors))
    resources = _resources(columns, max_points)
    if resources is not None:  # runs from before the harness sampled itself have none: no 'missing' line
        makers = (*makers, ("resources", lambda: resources))
    for what, make in makers:
        figure = make()
        if figure is None:
            timeline.missing.append(f"{what}: not in metrics.jsonl")
        else:
            timeline.figures.append(figure)
    return timeline


def sender_node_timeline(columns: MetricColumns, max_points: int = MAX_POINTS) -> Timeline:
    """The sender node's own figure: CPU and memory of the sender processes on it, from its probe."""
    timeline = Timeline()
    for section, (count, first) in sorted(columns.source_errors.items()):
        timeline.notes.append(source_note(section, count, first))
    figure = _processes(columns, max_points, "CPU and memory of the sender processes") if len(columns) > 1 else None
    if figure is None:
        timeline.missing.append("CPU and RSS of the sender processes: too few probe samples")
    else:
        timeline.figures.append(figure)
    return timeline


def node_timelines(metrics: RunMetrics | None, nominal_gbps: float | None = None,
                   max_points: int = MAX_POINTS) -> list[Timeline]:
    """One timeline per node: each recorder node (by name), then the sender node where it was probed.

    A run whose metrics name no node (one recorder, older runs) gets one timeline as before, its figures
    keyed ``throughput``, ``loss``, ``disks``, ``processes``.
    """
    if metrics is None or not metrics.nodes:
        return [run_timeline(None)]
    if not metrics.named_nodes:
        timelines = [run_timeline(metrics.nodes[DEFAULT_NODE], nominal_gbps, max_points)]
    else:
        timelines = [for_node(run_timeline(metrics.nodes[name], nominal_gbps, max_points), name, "recorder")
                     for name in sorted(metrics.nodes)]
    if metrics.sender_node is not None:
        timelines.append(for_node(sender_node_timeline(metrics.sender_node, max_points),
                                  metrics.sender_node_name, "sender"))
    return timelines
