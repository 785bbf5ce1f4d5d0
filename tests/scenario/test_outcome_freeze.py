"""A judged scan kept compressed: results.json, the failed scan's line and the thresholds see the same scan."""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.frame_counts import FrameCounts
from harness.scenario.outcome import ScanOutcome


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes of Python objects reachable from ``value`` (containers and dataclass fields followed)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        size += sum(deep_size(v, seen) for v in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    return size


def judged() -> ScanOutcome:
    outcome = ScanOutcome(name="s_001", started="2026-12-02T00:00:00Z", frames_sent=1000, duration_s=1.0,
                          nominal_gbps=0.064)
    findings = [{"kind": "frame_rate", "detail": f"thread {t}: 990 frames/s, not 1000"} for t in range(6)]
    findings.append({"kind": "gap", "detail": "thread 0: 10 frames missing at 0.5 s"})
    check = {"valid_frames": 990, "missing_frames": 10, "findings": findings,
             "threads": {str(t): {"frames": 990, "first": 0, "last": 999, "per_second": list(range(100))}
                         for t in range(8)}}
    outcome.apply_check(check, 8032)
    outcome.sender = {"frames_sent": 1000, "pacing": {"worst_second": 0.001, "seconds": list(range(200))}}
    outcome.recorder_replies = {"evlbi?": "!evlbi? 0 : total : 1000 ;", "scan_check?": "!scan_check? 0 : ok ;"}
    outcome.recorder_notes = [{"kind": "stray", "line": "3 datagrams of the wrong size"}]
    outcome.breaches = ["lost_frames 10 > 0"]
    return outcome


def test_a_frozen_scan_writes_the_same_results_and_says_the_same_line():
    outcome = judged()
    before = json.loads(json.dumps(outcome.to_json(), default=str))
    line, counts = outcome.summary(), outcome.counts()
    size = deep_size(outcome)
    outcome.freeze()
    assert json.loads(json.dumps(outcome.to_json(), default=str)) == before
    assert outcome.summary() == line and "2 more such findings" in line  # the stream's findings stay at hand
    assert outcome.counts() == counts and outcome.lost_frames == 10 and outcome.frame_counts == FrameCounts.from_json(
        before)
    assert deep_size(outcome) < size / 2.5  # what a night of scans keeps in memory
    outcome.freeze()  # twice: nothing changes
    assert json.loads(json.dumps(outcome.to_json(), default=str)) == before


def test_results_written_a_scan_at_a_time_read_back_as_one_document(tmp_path):
    from harness.scenario.run_dir import RunDirectory

    run_dir = RunDirectory(tmp_path / "reports", "freeze")
    scans = [judged() for _ in range(3)]
    scans[1].freeze()
    doc = {"schema": 1, "scenario": {"text": 'stream: {x: 1}\n"scans": [],\n  "scans": [],\n'},  # as a string: escaped
           "verdict": "running", "scans": [], "faults": [], "thresholds": []}
    run_dir.write_results(doc, (s.json_text() for s in scans))
    written = json.loads((run_dir.path / "results.json").read_text())
    plain = json.loads(json.dumps({**doc, "scans": [s.to_json() for s in scans]}, default=str))
    assert written == plain and len(written["scans"]) == 3
    run_dir.write_results({**doc, "scans": []}, ())  # no scans yet: the list stays empty
    assert json.loads((run_dir.path / "results.json").read_text())["scans"] == []
    run_dir.close()
