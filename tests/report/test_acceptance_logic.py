"""Requirement status from its evidence; plain dictionaries."""

from __future__ import annotations

from harness.report.acceptance import acceptance_results, overall
from harness.report.results import summarize


def run(verdict="pass", thresholds=None, scans=None, requirements=None, **extra):
    doc = {"verdict": verdict, "started": "2026-11-21T12:00:00Z", "finished": "2026-11-21T13:00:00Z",
           "scenario": {"name": "s", "requirements": requirements if requirements is not None else [
               {"id": "R1", "text": "no loss", "thresholds": ["lost_frames"]},
               {"id": "R2", "text": "kernel keeps up", "thresholds": ["rcvbuf_errors"]},
               {"id": "R3", "text": "whole run"}]},
           "thresholds": thresholds if thresholds is not None else [
               {"name": "lost_frames", "limit": 0, "value": 0, "passed": True},
               {"name": "rcvbuf_errors", "limit": 0, "value": 0, "passed": True}],
           "scans": scans if scans is not None else [{"name": "a", "passed": True}, {"name": "b", "passed": True}]}
    doc.update(extra)
    return acceptance_results(summarize(doc))


def statuses(results):
    return {r.id: r.status for r in results}


def test_all_pass():
    results = run()
    assert statuses(results) == {"R1": "pass", "R2": "pass", "R3": "pass"}
    assert overall(results) == "pass"
    assert results[0].scans == [] and len(results[2].scans) == 2  # named thresholds decide alone


def test_a_requirement_fails_on_its_own_threshold_only():
    results = run(verdict="fail", thresholds=[{"name": "lost_frames", "limit": 0, "value": 3, "passed": False},
                                              {"name": "rcvbuf_errors", "limit": 0, "value": 0, "passed": True}],
                  scans=[{"name": "a", "passed": False}, {"name": "b", "passed": True}])
    assert statuses(results) == {"R1": "fail", "R2": "pass", "R3": "fail"}
    assert overall(results) == "fail"


def test_an_interrupted_run_never_shows_a_requirement_passed():
    results = run(verdict="interrupted")
    assert set(statuses(results).values()) == {"incomplete"}
    assert overall(results) == "incomplete"


def test_missing_evidence_is_not_a_pass():
    results = run(thresholds=[{"name": "lost_frames", "limit": 0, "value": 0, "passed": True}],
                  requirements=[{"id": "R2", "thresholds": ["rcvbuf_errors"]},
                                {"id": "R4", "scans": ["nightly_7"]}])
    assert statuses(results) == {"R2": "no evidence", "R4": "no evidence"}
    assert "threshold rcvbuf_errors was not evaluated" in results[0].notes
    assert "scan nightly_7 was not recorded" in results[1].notes


def test_a_failed_preflight_or_no_scans_give_no_evidence():
    results = run(verdict="fail", scans=[], preflight=[{"name": "MTU 9000", "passed": False}])
    assert set(statuses(results).values()) == {"no evidence"}
    assert any("preflight failed (MTU 9000)" in n for n in results[0].notes)


def test_without_requirements_the_whole_run_is_the_evidence():
    results = run(requirements=[])
    assert [(r.id, r.status) for r in results] == [("run", "pass")]
