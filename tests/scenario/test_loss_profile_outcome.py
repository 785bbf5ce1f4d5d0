"""A failed scan's line names where its loss sits: the checker's profile findings (from a real recording with
a gap in its first second and a stop before its tail) taken into the scan outcome and judged by thresholds."""

from __future__ import annotations

from dataclasses import replace

from harness.checker import check
from harness.scenario.outcome import ScanOutcome
from harness.scenario.schema import Thresholds
from harness.scenario.thresholds import scan_breaches
from tests.checker.corpus import EXPECT, SECONDS, START, F, N, clean_items, frame_time, thread_of, write


def test_a_failed_scan_names_its_first_second_and_its_tail(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)
    # thread 3 loses frames 100-104 (a gap in the first second); no frame of any thread from frame 700 on
    items = [item for i, item in enumerate(clean_items())
             if not (thread_of(i) == 3 and 100 <= i // 4 < 105) and i // 4 < 700]
    expect = replace(EXPECT, expected_frames=N, schedule_start=float(START), schedule_end=float(START + SECONDS))
    doc = write("flat", tmp_path, items).check(expect).to_json()
    outcome = ScanOutcome("gappy_001", "", frames_sent=N, duration_s=SECONDS)
    outcome.apply_check(doc, F)
    assert outcome.lost_frames == 5 + 4 * 50
    outcome.breaches = scan_breaches(Thresholds(), outcome)
    assert outcome.summary() == (
        "lost_frames 205 > 0; first_second_short: frames missing in the first second of the scan: thread 3 has 245 "
        "of 250; 5 frames short in that second; tail_missing: at the tail: the last 0.200 s of the scan missing "
        f"(200 frames, 4 threads): no frame after {frame_time(699)}, frames were due up to {frame_time(750)}; "
        "frame_count: 2795 frames where 3000 were expected (205 fewer)")
    assert doc["profile"]["short_frames"] == outcome.lost_frames
