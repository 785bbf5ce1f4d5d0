"""Which figures the run report draws from the metrics, and that they stay bounded; plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.series import MAX_POINTS, columns_from_rows
from harness.report.timeline import MAX_MOUNT_LINES, format_seconds, mount_labels, run_timeline


def rows(n: int, mounts: int = 2, engine: bool = True) -> list[dict]:
    out = []
    for k in range(n):
        sender = {"frames": 100 * k, "bytes": 1_000_000 * k, "rss_bytes": 8e7}
        recorder = {"packets": 100 * k, "lost": k // 1000, "bytes": 1_000_000 * k, "cpu_pct": 20.0, "rss_bytes": 9e7}
        if engine:
            sender["cpu_s"] = 0.3 * k
        else:
            sender.update(gbps=0.008, cpu_pct=30.0)
            recorder["gbps"] = 0.008
        out.append({"t": 1000.0 + k, "scan": "a", "sender": sender, "recorder": recorder,
                    "udp": {"RcvbufErrors": 5 + k // 2000, "InErrors": 5 + k // 2000},
                    "disks": {f"/mnt/disk{m}": {"write_bytes_per_s": 1e7, "free_bytes": 1e12 - 1e7 * k}
                              for m in range(mounts)}})
    return out


def test_a_twelve_hour_series_draws_every_figure_within_the_bound():
    timeline = run_timeline(columns_from_rows(rows(43_200)), nominal_gbps=0.008)
    assert [f.key for f in timeline.figures] == ["throughput", "loss", "disks", "processes"]
    for figure in timeline.figures:
        for panel in figure.panels:
            for line in panel.lines:
                assert len(line.series) <= MAX_POINTS, (figure.key, line.label)
    assert timeline.missing == []


def test_rates_and_cpu_are_derived_from_counters_when_not_given():
    timeline = run_timeline(columns_from_rows(rows(100, engine=True)))
    throughput = timeline.figures[0].panels[0]
    sent = throughput.lines[0].series.mean
    assert [line.label for line in throughput.lines] == ["sent", "recorded"]
    assert np.nanmedian(sent) == pytest.approx(0.008)  # 1 MB per second
    cpu = next(f for f in timeline.figures if f.key == "processes").panels[0]
    assert np.nanmedian(cpu.lines[0].series.mean) == pytest.approx(30.0)


def test_loss_and_udp_errors_count_increments_and_say_their_totals():
    timeline = run_timeline(columns_from_rows(rows(5000)))
    loss = next(f for f in timeline.figures if f.key == "loss")
    assert np.nansum(loss.panels[0].lines[0].series.mean) == 4
    assert "4 packets lost" in loss.panels[0].note
    assert "2 RcvbufErrors, 2 InErrors" in loss.panels[1].note


def test_many_mount_points_are_summarised_not_drawn_one_by_one():
    timeline = run_timeline(columns_from_rows(rows(50, mounts=MAX_MOUNT_LINES + 4)))
    disks = next(f for f in timeline.figures if f.key == "disks")
    assert [line.label for line in disks.panels[0].lines] == ["all 12 mount points", "busiest mount point"]
    few = run_timeline(columns_from_rows(rows(50, mounts=3)))
    assert len(next(f for f in few.figures if f.key == "disks").panels[1].lines) == 3


def test_missing_metrics_say_what_is_not_plotted():
    assert run_timeline(None).missing == ["no metrics samples, so nothing to plot over time"]
    assert "only one" in run_timeline(columns_from_rows(rows(1))).missing[0]
    bare = run_timeline(columns_from_rows([{"t": 1.0, "recorder": {"error": "x"}}, {"t": 2.0}]))
    assert len(bare.missing) == 4 and bare.notes == ["The recorder metrics failed in 1 samples (first: x)."]


def test_durations_for_labels():
    assert [format_seconds(s) for s in (2, 108, 7200)] == ["2 s", "1.8 min", "2 h"]


def test_long_mount_points_are_labelled_by_what_differs():
    assert mount_labels(["/tmp/vlbi-smoke-h37sksla/disk0", "/tmp/vlbi-smoke-h37sksla/disk1"]) == (
        {"/tmp/vlbi-smoke-h37sksla/disk0": "disk0", "/tmp/vlbi-smoke-h37sksla/disk1": "disk1"},
        "/tmp/vlbi-smoke-h37sksla")
    assert mount_labels(["/mnt/disk0", "/mnt/disk1"])[1] == ""
    assert mount_labels(["/a/very/long/mount/point", "relative/very/long/name"])[1] == ""


def test_the_harness_and_recorder_resources_are_drawn_where_sampled():
    sampled = rows(600)
    for k, row in enumerate(sampled):
        row["harness"] = {"rss_bytes": 5e7 + 1000 * k, "fds": 20 + k // 300, "threads": 9, "results_bytes": 10 * k,
                          "metrics_bytes": 2 << 20}
        row["recorder"].update(fds=12, threads=4)
    timeline = run_timeline(columns_from_rows(sampled))
    resources = next(f for f in timeline.figures if f.key == "resources")
    assert [(p.ylabel, [line.label for line in p.lines]) for p in resources.panels] == [
        ("RSS MiB", ["harness", "recorder"]), ("open files", ["harness", "recorder"]),
        ("threads", ["harness", "recorder"]), ("output MiB", ["results.json", "metrics.jsonl"])]
    fds = resources.panels[1].lines[0].series
    assert np.nanmin(fds.lo) == 20 and np.nanmax(fds.hi) == 21  # a leaked descriptor shows as a step
    assert "resources" not in [f.key for f in run_timeline(columns_from_rows(rows(600))).figures]
