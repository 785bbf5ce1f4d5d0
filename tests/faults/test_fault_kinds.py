"""Each fault kind alone (scenarios/faults/<kind>.yaml, run as a user runs it): the scan it is in fails with
exactly the findings that kind must produce, its count equal to the one its own mechanism kept, and the next
scan passes with nothing lost. Extended (about 13 runs of 25 s): `make test-extended`; the demo in the default
suite has every kind in one run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.faults.kinds import INJECTORS, SENDER_SIDE, netem_missing
from tests.faults.live import (
    ROOT,
    by_kind,
    local_lab,
    nft_fault_tables,
    only,
    recordings_removed,
    results,
    run,
    sender_qdiscs,
)

__all__ = ["local_lab", "recordings_removed"]  # the module's fixtures
SCENARIOS = ROOT / "scenarios" / "faults"
Scan = dict[str, Any]
WRONG_SIZE = r"recorder \(error\?\): .*{} datagrams? of the wrong size"


def _loss(fault: Scan, scan: Scan) -> None:  # nftables' counter, from packets and bytes to datagrams
    assert scan["lost_frames"] == fault["injected"]["dropped"] > 0
    assert scan["invalid_frames"] == scan["lost_frames"]  # the recorder's fill frames stand in for them
    assert scan["frames_sent"] - scan["kernel_udp"]["InDatagrams"] == fault["injected"]["dropped"]
    only(scan["problems"])


def _duplicate(fault: Scan, scan: Scan) -> None:  # under UDPS absorbed by the recorder, which counts each
    assert scan["recorder_stats"]["out_of_order"] == fault["injected"]["late_in_scan"] == \
        fault["injected"]["duplicated"] > 0
    assert scan["passed"] and scan["duplicate_frames"] == scan["lost_frames"] == 0


def _reorder(fault: Scan, scan: Scan) -> None:  # two threads: a swap with the thread's next puts 2 below
    assert scan["recorder_stats"]["out_of_order"] == fault["injected"]["late_in_scan"] == \
        2 * fault["injected"]["reordered"] > 0
    assert scan["passed"] and scan["out_of_order_frames"] == scan["lost_frames"] == 0


def _delay(fault: Scan, scan: Scan) -> None:  # only where the kernel has netem: delayed, nothing lost
    assert fault["injected"]["delayed_packets"] > 0 and scan["passed"] and scan["lost_frames"] == 0


def _rate_limit(fault: Scan, scan: Scan) -> None:  # lost on the link: what the kernel never saw; tbf within 1 %
    assert scan["lost_frames"] == scan["frames_sent"] - scan["kernel_udp"]["InDatagrams"] > 0
    assert abs(fault["injected"]["dropped"] - scan["lost_frames"]) <= scan["lost_frames"] // 100
    only(scan["problems"])


def _recorder_stop(fault: Scan, scan: Scan) -> None:  # the socket dropped what the hung recorder did not read
    assert scan["lost_frames"] == scan["kernel_udp"]["RcvbufErrors"] > 0
    only(scan["problems"], r"hung|did not answer|no complete reply")


def _recorder_kill(fault: Scan, scan: Scan) -> None:
    assert fault["injected"]["killed"] and scan["kernel_udp"]["NoPorts"] > 0  # the rest found no socket
    only(scan["problems"], r"RecorderDied: .*the process exited with code -9", r"no chunks of scan")


def _sender_kill(fault: Scan, scan: Scan) -> None:
    assert scan["frames_sent"] is None and scan["lost_frames"] == scan["frames_expected"] - scan["valid_frames"] > 0
    only(scan["problems"], r"vdif-send was killed \(SIGKILL\)", r"the sender's last word")


def _disk(reason: str, mount: int) -> Callable[[Scan, Scan], None]:
    def check(fault: Scan, scan: Scan) -> None:  # the recorder's own words; what it lost, its socket dropped
        assert scan["lost_frames"] == scan["kernel_udp"]["RcvbufErrors"] == 0  # the other disk took the stream
        only(scan["problems"], rf"recorder \(error\?\): .*disk{mount} dropped at chunk \d+: {reason}")
    return check


def _disk_fail(fault: Scan, scan: Scan) -> None:
    _disk("EIO", 0)(fault, scan)
    assert fault["injected"]["device_writes_failed"] > 0  # the device's own count of the writes it failed


def _disk_gone(fault: Scan, scan: Scan) -> None:
    _disk("ENODEV: no longer mounted", 1)(fault, scan)
    assert fault["injected"]["mounted_again"] != "not yet" and not fault["injected"]["landed_on_parent_fs"]["files"]


def _stray(fault: Scan, scan: Scan) -> None:  # every wrong-size datagram in the recorder's own notes
    assert scan["lost_frames"] == 0 and fault["injected"]["sent"] > 0
    only(scan["problems"], WRONG_SIZE.format(fault["injected"]["sent"]))


EXPECTED: dict[str, Callable[[Scan, Scan], None]] = {
    "loss": _loss, "duplicate": _duplicate, "reorder": _reorder, "delay": _delay, "rate_limit": _rate_limit,
    "recorder_stop": _recorder_stop, "recorder_kill": _recorder_kill, "sender_kill": _sender_kill,
    "disk_full": _disk("ENOSPC", 1), "disk_fail": _disk_fail, "disk_gone": _disk_gone,
    "short_datagram": _stray, "long_datagram": _stray, "port_scan": _stray,
}


def test_every_kind_has_its_scenario_and_its_expectations() -> None:
    kinds = set(INJECTORS) | set(SENDER_SIDE)
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} == kinds == set(EXPECTED)


@pytest.mark.extended
@pytest.mark.usefixtures("recordings_removed")
@pytest.mark.root
@pytest.mark.lab
@pytest.mark.serial
@pytest.mark.skipif(os.geteuid() != 0, reason="faults on the local lab need root (nftables, tc, mounts)")
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_one_kind_alone(kind: str, local_lab: None, tmp_path: Path) -> None:
    done = run(SCENARIOS / f"{kind}.yaml", tmp_path)
    if kind == "delay" and (missing := netem_missing()):  # refused at collection, in one line naming why
        assert done.returncode == 2 and f"delay.yaml:34: faults.0.kind: cannot be injected here: delay needs " \
            f"netem: {missing}" in done.stdout, done.stdout[-2000:]
        return
    found = results(tmp_path)
    fault, scan = by_kind(found)[kind]
    assert fault["error"] is None and fault["skipped"] is None, fault
    EXPECTED[kind](fault, scan)
    after = found["scans"][1]
    if kind == "recorder_kill":  # a dead recorder stays dead: the next scan is refused, in one line
        only(after["problems"], r"recorder refused to start .*RecorderDied: .*exited with code -9")
    else:
        assert after["passed"] and after["lost_frames"] == 0 and after["problems"] == [], after
    assert done.returncode == (0 if scan["passed"] else 1), done.stdout[-2000:]
    assert nft_fault_tables() == [] and "tbf" not in sender_qdiscs()
