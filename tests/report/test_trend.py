"""The index's entries, order, drift and trend series; plain dictionaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from harness.report.trend import entry_of, folder_time, mark_drift, newest_first, trend_series, verdict_counts


def run(name: str, started: str | None, rate: float = 0.5, verdict: str = "pass") -> dict:
    return {"scenario": {"name": name}, "verdict": verdict, "started": started,
            "finished": None if started is None else started.replace("T19", "T20"),
            "scans": [{"name": "s", "frames_sent": 100, "lost_frames": 0, "rate_gbps": rate, "duration_s": 1.0,
                       "passed": True}]}


def test_folder_names_carry_the_start_time():
    assert folder_time("smoke-20261121T120000Z") == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert folder_time("smoke-20261321T120000Z") is None
    assert folder_time("by-hand") is None


def test_newest_first_with_undated_runs_last():
    entries = [entry_of("a", run("soak", "2026-11-10T19:00:00Z")), entry_of("b", None),
               entry_of("c", run("soak", "2026-11-12T19:00:00Z")),
               entry_of("smoke-20261111T120000Z", None)]
    assert [e.folder for e in newest_first(entries)] == ["c", "smoke-20261111T120000Z", "a", "b"]
    assert entries[3].scenario == "smoke" and entries[3].verdict == "unknown"


def test_drift_against_the_median_of_earlier_runs_of_the_same_scenario():
    entries = [entry_of(f"n{i}", run("soak", f"2026-11-1{i}T19:00:00Z", rate)) for i, rate in
               enumerate([0.5, 0.5, 0.5, 0.49])]
    entries.append(entry_of("other", run("smoke", "2026-11-13T12:00:00Z", 0.1)))
    mark_drift(entries)
    assert entries[0].rate_drift is None
    assert entries[1].rate_drift == 0.0
    assert entries[3].rate_drift == pytest.approx(-0.02)
    assert entries[4].rate_drift is None  # the first smoke run has nothing to compare with


def test_trend_series_per_scenario_in_time_order_and_bounded():
    entries = [entry_of(f"n{i}", run("soak", f"2026-11-1{i}T19:00:00Z")) for i in range(5)]
    entries.append(entry_of("x", run("smoke", "2026-11-12T12:00:00Z", verdict="fail")))
    entries.append(entry_of("undated", None))
    series = trend_series(entries, max_runs=4)
    assert [s.scenario for s in series] == ["smoke", "soak"]
    assert [d.day for d in series[1].started] == [12, 13, 14]
    assert series[0].verdicts == ["fail"]
    assert series[1].duration_h == [1.0, 1.0, 1.0]


def test_verdict_counts():
    entries = [entry_of("a", run("s", None, verdict="fail")), entry_of("b", None)]
    assert verdict_counts(entries) == {"pass": 0, "fail": 1, "interrupted": 0, "unknown": 1}


def on(results: dict, backend: str | None = None, nodes: tuple[str, ...] = ()) -> dict:
    """The run with its recorder backend and, for a multi-node run, one scan entry per recorder node."""
    if backend is not None:
        results["recorder"] = {"backend": backend}
    if nodes:
        results["scans"] = [{**scan, "recorder_node": node} for scan in results["scans"] for node in nodes]
    return results


def test_the_same_scenario_on_two_backends_and_two_node_sets_are_four_series():
    entries = [entry_of(f"r{i}", on(run("soak", f"2026-11-1{i}T19:00:00Z", rate), backend, nodes))
               for i, (backend, nodes, rate) in enumerate([
                   ("reference", (), 0.5), ("jive5ab", (), 0.3), ("reference", (), 0.5), ("jive5ab", (), 0.3),
                   ("reference", ("rec1", "rec2"), 0.25), ("reference", ("rec2", "rec1"), 0.25),
                   ("reference", ("rec1",), 0.4)])]
    series = trend_series(entries, max_runs=100)
    assert [(s.backend, s.nodes) for s in series] == [("jive5ab", "recorder"), ("reference", "rec1"),
                                                      ("reference", "rec1+rec2"), ("reference", "recorder")]
    assert [len(s.started) for s in series] == [2, 1, 2, 2]
    assert [s.label for s in series] == ["soak · jive5ab", "soak · reference · rec1",
                                         "soak · reference · rec1+rec2", "soak · reference"]
    mark_drift(entries)
    assert [e.rate_drift for e in entries] == [None, None, 0.0, 0.0, None, 0.0, None]  # never across series


def test_old_results_without_backend_or_nodes_still_group():
    old = entry_of("old", run("soak", "2026-11-10T19:00:00Z"))
    assert (old.backend, old.nodes) == ("?", "recorder")
    no_scans = {"scenario": {"name": "soak"}, "recorder": {"backend": "jive5ab"},
                "environment": {"nodes": {"sender": {"role": "sender"}, "rec2": {"role": "recorder"},
                                          "rec1": {"role": "recorder"}}}}
    assert entry_of("x", no_scans).series == ("soak", "jive5ab", "rec1+rec2")
    local = {"scenario": {"name": "smoke"}, "environment": {"nodes": {"recorder": {}, "sender": {}}}}
    assert entry_of("y", local).series == ("smoke", "?", "recorder")
    assert entry_of("z", None).series == ("z", "?", "recorder")
