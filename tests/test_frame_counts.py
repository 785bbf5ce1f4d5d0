"""The frame-count type and its table: what the checker, the engine, the schema and the report share."""

from __future__ import annotations

from dataclasses import fields

from harness.checker.result import CheckResult, ThreadReport
from harness.frame_counts import COUNTS, JUDGED, LOST, FrameCounts
from harness.scenario.schema import Thresholds

DAMAGED = FrameCounts(frames=100, invalid_frames=3, missing_frames=4, duplicate_frames=5, out_of_order_frames=6,
                      corrupt_headers=7, payload_errors=8)


def test_every_count_is_in_the_table_once():
    names = [c.name for c in COUNTS]
    assert len(set(names)) == len(names)
    assert set(names) == {f.name for f in fields(FrameCounts)} | {"valid_frames", LOST.name}
    assert all(c.label and c.description for c in COUNTS)


def test_the_schemas_count_thresholds_are_the_tables_judged_counts():
    """Thresholds keeps explicit fields (its documentation and defaults); they are the judged counts, no more."""
    count_names = {c.name for c in COUNTS}
    assert set(Thresholds.model_fields) & count_names == {c.name for c in JUDGED}
    assert all(Thresholds().model_dump()[c.name] == 0 for c in JUDGED)  # no loss, no fault: the default


def test_valid_frames_are_the_frames_not_invalid():
    assert DAMAGED.valid_frames == 97 and FrameCounts().valid_frames == 0


def test_counts_add_field_by_field():
    total = DAMAGED + FrameCounts(frames=1, invalid_frames=1, missing_frames=1)
    assert total == FrameCounts(frames=101, invalid_frames=4, missing_frames=5, duplicate_frames=5,
                                out_of_order_frames=6, corrupt_headers=7, payload_errors=8)
    assert sum([DAMAGED, DAMAGED], FrameCounts()).payload_errors == 16


def test_json_is_flat_under_the_names_results_json_has_always_used():
    assert DAMAGED.to_json() == {"frames": 100, "valid_frames": 97, "invalid_frames": 3, "missing_frames": 4,
                                 "duplicate_frames": 5, "out_of_order_frames": 6, "payload_errors": 8,
                                 "corrupt_headers": 7}
    assert FrameCounts.from_json(DAMAGED.to_json()) == DAMAGED
    # an older or partial document: what it lacks is 0, what it has beside the counts is not a count
    assert FrameCounts.from_json({"frames": 5, "stray_bytes": 9, "payload_errors": None}) == FrameCounts(frames=5)
    assert FrameCounts.from_json({"valid_frames": 6, "invalid_frames": 2}) == FrameCounts(frames=8, invalid_frames=2)


def test_the_checkers_json_keeps_its_counts_flat():
    result = CheckResult(source={"paths": ["x"]}, frame_counts=DAMAGED)
    result.threads = {0: ThreadReport(0, DAMAGED)}
    doc = result.to_json()
    assert {k: doc[k] for k in DAMAGED.to_json()} == DAMAGED.to_json() and "frame_counts" not in doc
    thread = doc["threads"]["0"]
    assert {k: thread[k] for k in DAMAGED.to_json()} == DAMAGED.to_json() and "frame_counts" not in thread
