"""Metrics columns and their reduction for display, with plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.series import (
    MAX_POINTS,
    columns_from_rows,
    increments,
    rate_of,
    reduce_envelope,
    reduce_sum,
)


def test_increments_of_a_cumulative_counter_start_at_zero():
    assert increments(np.array([5.0, 7.0, 7.0, 10.0])).tolist() == [0, 2, 0, 3]


def test_a_counter_that_goes_down_was_reset_and_counts_its_new_value():
    assert increments(np.array([100.0, 120.0, 4.0, 9.0])).tolist() == [0, 20, 4, 5]


def test_missing_samples_neither_count_nor_break_the_chain():
    assert increments(np.array([1.0, np.nan, 4.0, np.nan])).tolist() == [0, 0, 3, 0]
    assert increments(np.array([np.nan])).tolist() == [0]


def test_rate_of_bytes_per_second():
    t = np.array([0.0, 1.0, 3.0])
    assert rate_of(t, np.array([0.0, 100.0, 300.0]), 8.0).tolist()[1:] == [800.0, 800.0]
    assert np.isnan(rate_of(t, np.array([0.0, 100.0, 300.0]))[0])


def test_a_rate_spans_back_over_samples_without_the_counter():
    t = np.arange(6.0)
    cpu_s = np.array([0.0, 0.5, np.nan, np.nan, 2.0, 2.5])  # the sender is absent between scans
    assert rate_of(t, cpu_s, 100).tolist()[1:] == [50.0, pytest.approx(np.nan, nan_ok=True),
                                                    pytest.approx(np.nan, nan_ok=True), 50.0, 50.0]


def test_short_series_are_shown_as_they_are():
    t = np.arange(10.0)
    r = reduce_envelope(t, t * 2)
    assert r.bucket_s is None
    assert r.mean.tolist() == (t * 2).tolist()


def test_a_gap_in_raw_samples_breaks_the_line():
    t = np.array([0.0, 1.0, 2.0, 30.0, 31.0])
    r = reduce_envelope(t, np.ones(5))
    assert len(r) == 6 and np.isnan(r.mean[3])


def test_twelve_hours_at_one_second_reduce_to_the_bound_and_keep_the_extremes():
    t = np.arange(43_200.0)
    y = np.full(len(t), 0.515)
    y[20_000] = 0.1  # a one-second dip
    y[30_000] = 0.9
    r = reduce_envelope(t, y)
    assert len(r) <= MAX_POINTS
    assert np.nanmin(r.lo) == pytest.approx(0.1)
    assert np.nanmax(r.hi) == pytest.approx(0.9)
    assert np.nanmean(r.mean) == pytest.approx(0.515, abs=1e-3)
    assert r.bucket_s == pytest.approx(43_199 / MAX_POINTS)


def test_empty_buckets_become_gaps():
    t = np.concatenate([np.arange(0.0, 1000.0), np.arange(5000.0, 6000.0)])
    r = reduce_envelope(t, np.ones(len(t)), max_points=100)
    assert np.isnan(r.mean).any()
    assert np.nanmax(r.mean) == 1.0


def test_sums_per_bucket_keep_the_total_exactly():
    t = np.arange(10_000.0)
    counts = np.zeros(len(t))
    counts[[5, 4000, 4001, 9999]] = [3, 30, 7, 1]
    r = reduce_sum(t, counts, max_points=50)
    assert len(r) <= 50
    assert np.nansum(r.mean) == 41


def test_jittered_samples_leave_no_empty_bucket_inside_a_scan():
    rng = np.random.default_rng(0)
    t = np.arange(1000.0) + rng.uniform(-0.3, 0.3, 1000)
    r = reduce_envelope(np.sort(t), np.ones(1000), max_points=600)
    assert not np.isnan(r.mean).any()


def test_columns_tolerate_missing_sections_errors_and_lines_without_time():
    rows = [
        {"t": 2.0, "scan": "a", "sender": {"gbps": 0.5}, "recorder": {"lost": 0},
         "disks": {"/mnt/disk0": {"write_bytes_per_s": 10.0, "free_bytes": 100}}},
        {"t": 1.0, "scan": None, "sender": None, "recorder": {"error": "OSError: control port closed"}},
        {"t": "soon"},
        {"t": 3.0, "scan": "a", "sender": {"gbps": True},
         "disks": {"/mnt/disk1": {"write_bytes_per_s": 5.0}, "/mnt/disk0": "broken"}},
    ]
    c = columns_from_rows(rows)
    assert c.t.tolist() == [1.0, 2.0, 3.0]
    assert c.scan == [None, "a", "a"]
    assert c.skipped_lines == 1
    assert np.isnan(c.column("sender_gbps")[[0, 2]]).all() and c.column("sender_gbps")[1] == 0.5
    assert c.disks["/mnt/disk0"]["write_bytes_per_s"][1] == 10.0
    assert np.isnan(c.disks["/mnt/disk0"]["write_bytes_per_s"][[0, 2]]).all()
    assert c.disks["/mnt/disk1"]["write_bytes_per_s"][2] == 5.0
    assert c.source_errors == {"recorder": (1, "OSError: control port closed")}
    assert not c.has("udp_in_errors") and c.has("sender_gbps")
    assert np.isnan(c.column("no such column")).all()
