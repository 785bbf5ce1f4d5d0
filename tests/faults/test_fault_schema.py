"""The faults: timeline of a scenario file: each entry checked against the schedule, the stream and this machine,
refused with one file:line message naming the key."""

from __future__ import annotations

import os

import pytest

from harness.faults.kinds import netem_missing, unavailable
from harness.scenario.loading import ScenarioError, load_scenario

BASE = """\
name: t
stream: {payload_bytes: 8000, threads: 2, fps: 1000, udps: true}
schedule: {scans: 2, scan_length: 4s}
faults:
"""


def load(faults: str):
    return load_scenario("t.yaml", BASE + faults)


def test_a_timeline_loads_with_units_and_defaults():
    scenario = load("  - {kind: loss, scan: 2, at: 1.5s, duration: 2s, fraction: 0.5%}\n"
                    "  - {kind: recorder_kill, scan: 2, at: 3s}\n")
    loss, kill = scenario.faults
    assert (loss.scan, loss.at, loss.duration, loss.fraction) == (2, 1.5, 2.0, 0.005)
    assert kill.instant and kill.end == 3.0 and not loss.instant and loss.end == 3.5


@pytest.mark.parametrize(("faults", "expected"), [
    ("  - {kind: los, scan: 1}\n", "t.yaml:5: faults.0: "),
    ("  - {kind: loss, scan: 1}\n", "exactly one of fraction (e.g. 0.4%) or every"),
    ("  - {kind: loss, scan: 1, fraction: 40}\n", "a fraction above 0 and below 1"),
    ("  - {kind: loss, scan: 3, every: 10}\n", "faults.0.scan: expected a scan of the schedule's 2"),
    ("  - {kind: loss, scan: 1, at: 4s, every: 10}\n", "faults.0.at: expected an offset within the scan's 4 s"),
    ("  - {kind: disk_full, scan: 1, mount: 2}\n", "faults.0.mount: expected a mount point index below 2"),
    ("  - {kind: rate_limit, scan: 1, rate: fast}\n", "a rate such as 2 Gbit/s"),
    ("  - {kind: duplicate, scan: 1}\n  - {kind: duplicate, scan: 1, at: 2s}\n",
     "faults.1.kind: expected one duplicate per scan"),
    ("  - {kind: loss, scan: 1, every: 10, colour: red}\n", "colour"),
])
def test_a_bad_fault_is_named_in_one_line(faults, expected):
    with pytest.raises(ScenarioError) as caught:
        load(faults)
    text = str(caught.value)
    assert expected in text and "\n" not in text


def test_a_kind_no_mechanism_here_can_inject_is_refused_at_collection_unless_optional(monkeypatch):
    assert unavailable("disk_fail") is None  # chattr and losetup: an image file made immutable
    monkeypatch.setattr("harness.faults.kinds.shutil.which", lambda name: None if name == "chattr" else name)
    with pytest.raises(ScenarioError, match=r"faults\.0\.kind: cannot be injected here: disk_fail needs chattr"):
        load("  - {kind: disk_fail, scan: 1}\n")
    assert load("  - {kind: disk_fail, scan: 1, required: false}\n").faults[0].kind == "disk_fail"


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="trying netem needs root (a network namespace)")
def test_delay_is_refused_exactly_where_netem_is_missing():
    missing = netem_missing()
    if missing is None:
        assert load("  - {kind: delay, scan: 1, delay: 5ms}\n").faults[0].kind == "delay"
    else:
        with pytest.raises(ScenarioError, match="delay needs netem: this kernel has no netem qdisc"):
            load("  - {kind: delay, scan: 1, delay: 5ms}\n")
