"""How values read in the reports."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.report import formatting as f


def test_times():
    when = datetime(2026, 11, 21, 12, 0, 5, 400000, tzinfo=UTC)
    assert f.parse_time("2026-11-21T12:00:05.400000Z") == when
    assert f.parse_time("2026-11-21T13:00:05.4+01:00") == when
    assert f.parse_time(when.timestamp()) == when
    assert f.parse_time("yesterday") is None and f.parse_time(True) is None and f.parse_time(None) is None
    assert f.time_text("2026-11-21T12:00:05Z") == "2026-11-21 12:00:05 UTC"
    assert f.clock_text(when) == "12:00:05"
    assert f.instant_text("2026-11-21T12:00:05.400000Z") == "12:00:05.400"
    assert f.instant_text(3) == "3"


def test_numbers_sizes_durations():
    assert f.count_text(1234567) == "1,234,567"
    assert f.count_text(None) == f.ABSENT == f.count_text(float("nan")) == f.count_text(True)
    assert f.gbps_text(0.5153) == "0.515 Gbit/s"
    assert f.bytes_text(2_000_000_000_000) == "1.8 TiB"
    assert f.bytes_text(512) == "512 B"
    assert f.duration_text(5) == "5.0 s"
    assert f.duration_text(245) == "4 min 05 s"
    assert f.duration_text(43_260) == "12 h 01 min"
    assert f.percent_text(0.1632) == "16.3 %"
    assert f.number_text(0.5143) == "0.514"
    assert f.comparison_text(">=") == "≥" and f.comparison_text("~") == "~"


def test_values_from_results_json():
    assert f.value_text(52030) == "52030"
    assert f.value_text(1e-6) == "1e-06"
    assert f.value_text(2.0) == "2"
    assert f.value_text(False) == "no"
    assert f.value_text(["/mnt/disk0", "/mnt/disk1"]) == "/mnt/disk0, /mnt/disk1"
    assert f.value_text({"b": 1, "a": [1, {"x": 2}]}) == '{"a": [1, {"x": 2}], "b": 1}'
    assert f.value_text(None) == f.ABSENT
