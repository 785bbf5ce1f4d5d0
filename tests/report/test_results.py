"""results.json to the report's values: verdicts, thresholds, scans, findings; plain dictionaries."""

from __future__ import annotations

from harness.report.results import MAX_FINDINGS_SHOWN, findings_of, scan_row, summarize, threshold_rows


def results(**changes):
    doc = {
        "scenario": {"name": "smoke",
                     "requirements": [{"id": "REQ-1", "text": "no loss", "thresholds": ["lost_frames"]}]},
        "verdict": "pass", "breached": [], "started": "2026-11-21T12:00:00.000000Z",
        "finished": "2026-11-21T12:01:00.000000Z",
        "scans": [{"name": "s1", "frames_sent": 100, "valid_frames": 100, "lost_frames": 0, "passed": True,
                   "rate_gbps": 0.5, "nominal_gbps": 0.5, "duration_s": 10.0, "validated": True}],
        "thresholds": [{"name": "lost_frames", "limit": 0, "value": 0, "passed": True, "unit": "frames"}],
    }
    doc.update(changes)
    return doc


def test_a_passing_run():
    s = summarize(results())
    assert (s.verdict, s.breached, s.problems) == ("pass", [], [])
    assert s.duration_s == 60.0
    assert s.requirements[0].thresholds == ("lost_frames",)


def test_breached_thresholds_are_named_even_when_breached_omits_them():
    s = summarize(results(verdict="fail", breached=["lost_frames"], thresholds=[
        {"name": "lost_frames", "limit": 0, "value": 3, "passed": False},
        {"name": "rcvbuf_errors", "limit": 0, "value": 9, "passed": False}]))
    assert s.verdict == "fail"
    assert s.breached == ["lost_frames", "rcvbuf_errors"]


def test_a_pass_with_a_failed_threshold_is_shown_as_fail_and_said():
    s = summarize(results(thresholds=[{"name": "lost_frames", "limit": 0, "value": 3, "passed": False}]))
    assert s.verdict == "fail"
    assert "says 'pass'" in s.problems[0]


def test_a_pass_with_a_failed_preflight_is_shown_as_fail():
    s = summarize(results(preflight=[{"name": "MTU 9000", "passed": False, "detail": "1500"}]))
    assert s.verdict == "fail"
    assert [c.name for c in s.failed_preflight] == ["MTU 9000"]


def test_a_run_still_marked_running_reads_interrupted():
    s = summarize(results(verdict="running", finished=None, thresholds=[]))
    assert s.verdict == "interrupted"
    assert "running" in s.problems[0]


def test_missing_results_give_an_unknown_verdict():
    s = summarize(None)
    assert (s.verdict, s.scans, s.thresholds) == ("unknown", [], [])


def test_without_a_verdict_one_is_derived():
    assert summarize(results(verdict=None)).verdict == "pass"
    assert summarize(results(verdict=None, finished=None)).verdict == "interrupted"
    failed = results(verdict=None, scans=[{"name": "s1", "passed": False}])
    assert summarize(failed).verdict == "fail"


def test_mistyped_fields_are_ignored_not_fatal():
    s = summarize({"scenario": "smoke", "scans": [None, 3, {"name": ["x"], "frames_sent": "many"}],
                   "thresholds": {"lost_frames": 0}, "breached": [None, 5], "started": 12})
    assert s.scenario == "unnamed scenario"
    assert [scan.name for scan in s.scans] == ["scan 1 (unnamed)", "scan 2 (unnamed)", "scan 3 (unnamed)"]
    assert s.scans[2].frames_sent is None
    assert s.thresholds == []
    assert s.breached == ["5"]


def test_threshold_direction_from_op_or_from_the_name():
    rows = threshold_rows([{"name": "min_rate_fraction", "limit": 0.99, "value": 1.0, "passed": True},
                           {"name": "lost_frames", "limit": 0, "value": 0, "passed": True},
                           {"name": "custom", "limit": 1, "value": 2, "passed": True, "op": "=="},
                           {"limit": 1}])
    assert [r.op for r in rows] == [">=", "<=", "=="]


def test_an_unchecked_scan_has_no_counts_rather_than_zeros():
    row = scan_row({"name": "s3", "frames_sent": 9000, "valid_frames": 0, "lost_frames": 0, "passed": False,
                    "validated": False, "interrupted": True, "problems": []}, 2)
    assert row.passed is None
    assert (row.recorded, row.lost, row.rate_gbps) == (None, None, None)
    assert row.frames_sent == 9000


def test_scan_problems_breaches_and_early_stop_are_kept():
    row = scan_row({"name": "s", "passed": False, "breaches": ["lost_frames 3 > 0"],
                    "problems": ["recorder: timeout"], "stopped_early": True}, 0)
    assert row.breaches == ["lost_frames 3 > 0"]
    assert row.problems == ["recorder: timeout", "the recorder stopped recording by itself before record=off"]


def test_recorded_frames_and_loss_fall_back_to_the_checker():
    row = scan_row({"name": "s", "valid_frames": 90, "check": {"frames": 95, "missing_frames": 5}}, 0)
    assert (row.recorded, row.lost) == (95, 5)


def test_findings_with_full_counts_and_a_bounded_listing():
    check = {"findings": [{"kind": "gap", "offset": i, "detail": "x"} for i in range(30)] + [{"offset": 1}],
             "counts": {"gap": 5000, "payload": 0}}
    row = scan_row({"name": "s", "passed": False, "check": check}, 0)
    assert row.finding_counts == {"gap": 5000}
    assert len(row.findings) == MAX_FINDINGS_SHOWN
    assert row.findings_not_shown == 5000 - MAX_FINDINGS_SHOWN


def test_findings_as_a_mapping_or_without_counts():
    listed, counts = findings_of({"findings": {"counts": {"gap": 2}, "items": [{"kind": "gap"}]}})
    assert (len(listed), counts) == (1, {"gap": 2})
    listed, counts = findings_of({"findings": [{"kind": "gap"}, {"kind": "gap"}, {"kind": "payload"}]})
    assert counts == {"gap": 2, "payload": 1}


def test_totals_and_achieved_rate_weighted_by_duration():
    s = summarize(results(scans=[
        {"name": "a", "frames_sent": 100, "lost_frames": 1, "rate_gbps": 1.0, "duration_s": 30.0, "passed": False},
        {"name": "b", "frames_sent": 50, "rate_gbps": 0.4, "duration_s": 10.0, "passed": True}]))
    assert s.total("frames_sent") == 150
    assert s.total("lost") == 1
    assert s.count_total("payload_errors") is None and s.count_total("lost_frames") == 1
    assert s.achieved_gbps == (1.0 * 30 + 0.4 * 10) / 40
    assert [x.name for x in s.failed_scans] == ["a"]


def test_nominal_rate_from_the_sender_when_scans_do_not_say():
    s = summarize(results(scans=[], sender={"nominal_gbps": 0.515}))
    assert s.nominal_gbps == 0.515
    assert "results.json lists no scans" in s.problems
