"""The verdict arithmetic as plain values: a scan's counts from its check (outcome.py), each threshold held
against them per scan and over the run (thresholds.py), at the limit and one past it."""

from __future__ import annotations

import pytest

from harness.frame_counts import JUDGED, FrameCounts
from harness.scenario.outcome import ScanOutcome
from harness.scenario.schema import Thresholds
from harness.scenario.thresholds import ThresholdResult, evaluate, scan_breaches

FRAME = 1032
NO_LIMITS = {"lost_frames": None, "invalid_frames": None, "duplicate_frames": None, "out_of_order_frames": None,
             "payload_errors": None, "corrupt_headers": None, "lost_fraction": None, "min_rate_fraction": None,
             "min_disk_free": None, "rcvbuf_errors": None}


def limits(**given: float | int | None) -> Thresholds:
    """Only the thresholds given: every other one off."""
    return Thresholds(**{**NO_LIMITS, **given})


def check(frames: int = 4000, **counts: int) -> dict[str, object]:
    """A check's JSON as the checker gives it (counts flat, beside other fields)."""
    return {**FrameCounts(frames=frames, **counts).to_json(), "frame_bytes": FRAME, "stray_bytes": 0}


def checked(sent: int | None = 4000, *, expected: int | None = None, duration: float = 2.0, nominal: float = 0.0,
            frames: int = 4000, **counts: int) -> ScanOutcome:
    outcome = ScanOutcome("s_001", "", frames_sent=sent, frames_expected=expected, duration_s=duration,
                          nominal_gbps=nominal)
    outcome.apply_check(check(frames, **counts), FRAME)
    return outcome


def by_name(results: list[ThresholdResult]) -> dict[str, ThresholdResult]:
    return {r.name: r for r in results}


def run(thresholds: Thresholds, *scans: ScanOutcome, rcvbuf: int | None = 0,
        free: int | None = None) -> dict[str, ThresholdResult]:
    return by_name(evaluate(thresholds, scans, rcvbuf_errors=rcvbuf, min_disk_free=free))


# ------------------------------------------------------------------------------------------- apply_check
def test_a_clean_check_loses_nothing():
    scan = checked()
    assert scan.validated and scan.lost_frames == 0 and scan.frame_counts == FrameCounts(frames=4000)
    assert scan.counts()["valid_frames"] == 4000


@pytest.mark.parametrize(("frames", "counts", "lost"), [
    (3999, {}, 1),  # one frame never recorded
    (4000, {"invalid_frames": 1}, 1),  # one recorded as the recorder's fill
    (4001, {"duplicate_frames": 1}, 0),  # a second copy is no frame more
    (4000, {"duplicate_frames": 1}, 1),  # ... and when the copy took a frame's place, that frame is lost
    (4000, {"out_of_order_frames": 3, "corrupt_headers": 2, "payload_errors": 1}, 0),  # damaged, not lost
])
def test_lost_is_the_frames_sent_that_did_not_arrive_valid_and_distinct(frames, counts, lost):
    assert checked(4000, frames=frames, **counts).lost_frames == lost


def test_lost_is_never_negative():
    """More distinct valid frames than sent (a stray source on the port): the surplus is not negative loss."""
    assert checked(4000, frames=4010).lost_frames == 0


def test_a_stand_in_loses_the_frames_the_declared_stream_should_have_carried():
    """--stand-in-sender with a thread skipped: the sender sent 3000, the declared stream carried 4000."""
    scan = checked(3000, expected=4000, frames=3000)
    assert scan.lost_frames == 1000
    assert checked(3000, expected=3001, frames=3000).lost_frames == 1  # off by one against what was expected


def test_an_external_source_loses_its_missing_and_invalid_frames():
    """A real CBF: nothing known of what was sent; the gaps and the fill frames are the loss."""
    scan = checked(None, frames=4000, missing_frames=7, invalid_frames=3, duplicate_frames=2)
    assert scan.lost_frames == 10 and scan.frames_sent is None


def test_the_rate_counts_distinct_valid_frames_at_the_recorded_frame_size():
    scan = checked(4000, frames=4002, duplicate_frames=2, invalid_frames=2, duration=2.0)
    assert scan.rate_gbps == round(3998 * FRAME * 8 / 2.0 / 1e9, 6)
    outcome = ScanOutcome("s_001", "", frames_sent=10, duration_s=1.0)
    outcome.apply_check({**check(10), "frame_bytes": 5032}, FRAME)  # an external stream's own frame size wins
    assert outcome.rate_gbps == round(10 * 5032 * 8 / 1e9, 6)
    assert checked(duration=0.0).rate_gbps == 0.0  # no duration (a scan that never ran): no rate, no error


def test_the_scans_json_keeps_every_count_flat():
    doc = checked(4000, frames=3999, payload_errors=2).to_json()
    assert "frame_counts" not in doc
    assert {k: doc[k] for k in ("frames", "valid_frames", "lost_frames", "payload_errors", "missing_frames")} == {
        "frames": 3999, "valid_frames": 3999, "lost_frames": 1, "payload_errors": 2, "missing_frames": 0}


# ------------------------------------------------------------------------------------------- count thresholds
@pytest.mark.parametrize("name", [c.name for c in JUDGED])
def test_each_count_at_its_limit_passes_and_one_past_it_fails(name):
    def scan_with(n: int) -> ScanOutcome:
        if name == "lost_frames":
            return checked(4000, frames=4000 - n)
        return checked(4000, frames=4000 + n if name == "duplicate_frames" else 4000, **{name: n})

    at_limit, past = scan_with(2), scan_with(3)
    thresholds = limits(**{name: 2})
    assert at_limit.counts()[name] == 2 and past.counts()[name] == 3
    assert scan_breaches(thresholds, at_limit) == []
    assert scan_breaches(thresholds, past) == [f"{name} 3 > 2"]
    assert run(thresholds, at_limit)[name] == ThresholdResult(name, 2, 2, True, "frames")
    assert run(thresholds, past)[name] == ThresholdResult(name, 2, 3, False, "frames")
    # over the run the total is judged: two scans each within the limit can breach it together
    assert run(thresholds, scan_with(1), scan_with(2))[name].passed is False
    assert run(thresholds, scan_with(1), scan_with(1))[name].passed is True
    # a limit of None is no limit at all
    assert scan_breaches(limits(), scan_with(10**6)) == [] and name not in run(limits(), scan_with(10**6))


def test_a_zero_limit_is_breached_by_a_single_frame():
    assert scan_breaches(limits(corrupt_headers=0), checked(corrupt_headers=1)) == ["corrupt_headers 1 > 0"]
    assert scan_breaches(limits(corrupt_headers=0), checked(corrupt_headers=0)) == []


def test_only_validated_scans_count_toward_the_run():
    unchecked = ScanOutcome("s_002", "", frames_sent=4000)  # the checker never ran: its zeros say nothing
    unchecked.lost_frames = 99
    assert run(limits(lost_frames=0), checked(), unchecked)["lost_frames"].value == 0


# ------------------------------------------------------------------------------------------- fractions
def test_lost_fraction_at_and_past_its_limit():
    thresholds = limits(lost_fraction=0.001)
    at_limit, past = checked(4000, frames=3996), checked(4000, frames=3995)  # 4 and 5 of 4000 lost
    assert scan_breaches(thresholds, at_limit) == []
    assert scan_breaches(thresholds, past) == ["lost_fraction 0.00125 > 0.001"]
    assert run(thresholds, at_limit)["lost_fraction"].passed
    result = run(thresholds, past)["lost_fraction"]
    assert (result.value, result.passed) == (5 / 4000, False)
    assert run(thresholds, at_limit, checked())["lost_fraction"].value == 4 / 8000  # over all frames sent


def test_lost_fraction_without_frames_sent_is_not_a_division_by_zero():
    external = checked(None, frames=10, missing_frames=5)
    assert scan_breaches(limits(lost_fraction=0.0), external) == []  # nothing known sent: judged as counts only
    assert run(limits(lost_fraction=0.0), external)["lost_fraction"].value == 0.0


RATED_S = 8.256
"""A scan length at which the frames' rate in Gbit/s is exact to the 6 decimals a scan keeps: frames / 1e6."""
NOMINAL = 4000 * FRAME * 8 / RATED_S / 1e9


def test_min_rate_fraction_at_and_one_frame_below_its_limit():
    full = checked(4000, duration=RATED_S, nominal=NOMINAL)
    assert (full.rate_gbps, NOMINAL) == (0.004, 0.004)
    at_limit = checked(4000, frames=3960, duration=RATED_S, nominal=NOMINAL)  # 99 % of the nominal rate
    below = checked(4000, frames=3959, duration=RATED_S, nominal=NOMINAL)
    thresholds = limits(min_rate_fraction=0.99)
    assert scan_breaches(thresholds, full) == scan_breaches(thresholds, at_limit) == []
    assert scan_breaches(thresholds, below) == ["rate 0.9897 of nominal < 0.99"]
    assert run(thresholds, full, at_limit)["min_rate_fraction"].passed
    result = run(thresholds, full, below, at_limit)["min_rate_fraction"]
    assert (result.value, result.passed, result.op) == (0.98975, False, ">=")  # the worst scan's


def test_min_rate_fraction_skips_interrupted_scans_and_external_sources():
    stopped = checked(4000, frames=100, duration=RATED_S, nominal=NOMINAL)
    stopped.interrupted = True  # Ctrl-C part way: its rate says nothing of the chain
    assert scan_breaches(limits(min_rate_fraction=0.99), stopped) == []
    assert run(limits(min_rate_fraction=0.99), stopped)["min_rate_fraction"].value is None
    external = run(limits(min_rate_fraction=0.99), checked(None))["min_rate_fraction"]
    assert external.passed and external.detail == "not judged: no nominal rate (external source)"


# ------------------------------------------------------------------------------------------- the node's figures
def test_rcvbuf_errors_at_and_past_the_limit_and_unknown():
    assert run(limits(rcvbuf_errors=2), checked(), rcvbuf=2)["rcvbuf_errors"].passed
    assert not run(limits(rcvbuf_errors=2), checked(), rcvbuf=3)["rcvbuf_errors"].passed
    assert not run(limits(rcvbuf_errors=0), checked(), rcvbuf=None)["rcvbuf_errors"].passed  # unknown: no proof
    assert "rcvbuf_errors" not in run(limits(), checked(), rcvbuf=10**6)


def test_min_disk_free_at_and_below_the_limit_and_unknown():
    assert run(limits(min_disk_free=1 << 30), checked(), free=1 << 30)["min_disk_free"].passed
    below = run(limits(min_disk_free=1 << 30), checked(), free=(1 << 30) - 1)["min_disk_free"]
    assert not below.passed and below.describe() == f"min_disk_free {(1 << 30) - 1} (limit >= {1 << 30} bytes)"
    assert not run(limits(min_disk_free=1), checked(), free=None)["min_disk_free"].passed


def test_scans_with_problems_fail_the_run_whatever_the_counts():
    broken = checked()
    broken.problems.append("recorder refused to start s_001")
    early = checked()
    early.stopped_early = True
    result = run(limits(), checked(), broken, early)["scans_completed"]
    assert (result.value, result.passed) == (2, False)
    assert run(limits(), checked())["scans_completed"].passed
