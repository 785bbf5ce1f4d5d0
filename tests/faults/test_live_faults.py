"""Faults injected into live runs on the local lab: each caught, counted exactly by its own mechanism and by the
harness alike, explained, and always removed (after Ctrl-C too, and by the next run after a SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

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
pytestmark = [
    pytest.mark.root,
    pytest.mark.lab,
    pytest.mark.serial,
    pytest.mark.usefixtures("recordings_removed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="faults on the local lab need root (nftables, tc, mounts)"),
]


def test_faults_demo_fails_with_exactly_the_injected_findings(local_lab: None, tmp_path: Path) -> None:
    done = run(ROOT / "scenarios/faults_demo.yaml", tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    found = results(tmp_path)
    kinds = by_kind(found)
    assert len(found["faults"]) == 14 and len(found["scans"]) == 9
    assert nft_fault_tables() == [] and "tbf" not in sender_qdiscs()
    for fault in found["faults"]:
        assert fault["error"] is None, fault
        assert fault["skipped"] is None or fault["kind"] == "delay", fault

    fault, scan = kinds["loss"]  # nftables' own counter, converted from packets and bytes to datagrams
    assert scan["lost_frames"] == fault["injected"]["dropped"] > 0  # 0.5 % at random: about 100
    assert fault["end"] - fault["start"] == pytest.approx(1.0, abs=0.2)
    assert scan["invalid_frames"] == scan["lost_frames"]  # the recorder's fill frames stand in for them
    assert scan["frames_sent"] - scan["kernel_udp"]["InDatagrams"] == fault["injected"]["dropped"]
    only(scan["problems"])

    duplicate, scan = kinds["duplicate"]  # under UDPS the recorder absorbs them, and its evlbi? counts them
    reorder, _ = kinds["reorder"]  # in the same scan; two threads: a swap with the thread's next puts 2 below
    late = duplicate["injected"]["duplicated"] + 2 * reorder["injected"]["reordered"]
    assert duplicate["injected"]["duplicated"] > 0 and reorder["injected"]["reordered"] > 0
    assert duplicate["injected"]["late_in_scan"] == reorder["injected"]["late_in_scan"] == late
    assert scan["recorder_stats"]["out_of_order"] == late
    assert scan["duplicate_frames"] == scan["out_of_order_frames"] == scan["lost_frames"] == 0 and scan["passed"]

    fault, scan = kinds["rate_limit"]  # lost on the link: what the kernel never saw; tbf's own count within 1 %
    assert scan["lost_frames"] == scan["frames_sent"] - scan["kernel_udp"]["InDatagrams"] > 0
    assert abs(fault["injected"]["dropped"] - scan["lost_frames"]) <= scan["lost_frames"] // 100
    only(scan["problems"])

    fault, scan = kinds["recorder_stop"]  # the kernel dropped at the socket what the hung recorder did not read
    assert scan["lost_frames"] == scan["kernel_udp"]["RcvbufErrors"] > 0
    only(scan["problems"], r"hung|did not answer|no complete reply")

    for kind in ("disk_full", "disk_gone"):  # the recorder's words; what it lost, its socket dropped
        fault, scan = kinds[kind]
        assert scan["lost_frames"] == scan["kernel_udp"]["RcvbufErrors"]
        only(scan["problems"], r"recorder \(error\?\): .*disk1 dropped at chunk \d+: " +
             ("ENOSPC" if kind == "disk_full" else "ENODEV: no longer mounted"))
    assert kinds["disk_full"][0]["injected"]["free_bytes"] < 64 << 20
    gone = kinds["disk_gone"][0]["injected"]
    assert gone["mounted_again"] != "not yet" and not gone.get("landed_on_parent_fs", {}).get("files")

    sent = sum(kinds[k][0]["injected"]["sent"] for k in ("short_datagram", "long_datagram", "port_scan"))
    scan = kinds["port_scan"][1]  # the three in one scan: the recorder must have noted every one
    assert sent == 22 and scan["lost_frames"] == scan["kernel_udp"]["RcvbufErrors"] == 0
    failed = kinds["disk_fail"][0]["injected"]  # in the same scan: its writes failed at the device, disk1 took them
    assert kinds["disk_fail"][1] is scan and failed["device_writes_failed"] > 0
    only(scan["problems"], r"recorder \(error\?\): .*22 datagrams? of the wrong size",
         r"recorder \(error\?\): .*disk0 dropped at chunk \d+: EIO")

    fault, scan = kinds["sender_kill"]
    assert scan["frames_sent"] is None and scan["lost_frames"] == scan["frames_expected"] - scan["valid_frames"] > 0
    only(scan["problems"], r"vdif-send was killed \(SIGKILL\)", r"the sender's last word")

    fault, scan = kinds["recorder_kill"]  # it wrote nothing of the scan before it died: nothing to validate
    assert not scan["validated"] and scan["kernel_udp"]["NoPorts"] > 0  # the rest found no socket
    only(scan["problems"], r"RecorderDied: .*the process exited with code -9", r"no chunks of scan")

    fault, scan = kinds["delay"]  # not injectable on this machine (no netem): named, never applied
    assert fault["skipped"] and fault["start"] is None
    passed = [s["name"] for s in found["scans"] if s["passed"]]
    assert passed == [kinds["duplicate"][1]["name"]]  # duplicates and re-orders under UDPS: absorbed

    report = (tmp_path / "latest" / "report.html").read_text()
    assert 'id="fault-table"' in report
    assert report.count("loss (scan 1)") >= 4  # the band's label on every plot over time


LONG_LOSS = """\
name: fault_cut
lab: {inventory: local, disks: 2}
stream: {payload_bytes: 8000, threads: 1, udps: true, fps: 2000, port: 52030}
recorder: {backend: reference, protocol: udps, workbuf: 16M}
schedule: {scans: 1, scan_length: 20s}
faults:
  - {kind: loss, scan: 1, at: 1s, duration: 15s, every: 50}
  - {kind: rate_limit, scan: 1, at: 1s, duration: 15s, rate: 10 Gbit/s}
"""


def wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_ctrl_c_removes_every_fault_in_force(local_lab: None, tmp_path: Path) -> None:
    scenario = tmp_path / "fault_cut.yaml"
    scenario.write_text(LONG_LOSS)
    harness = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab",
                                "local", "--reports", str(tmp_path / "r")], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: nft_fault_tables() and "tbf" in sender_qdiscs(), 90)
        os.killpg(harness.pid, signal.SIGINT)
        harness.communicate(timeout=120)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
    assert nft_fault_tables() == [] and "tbf" not in sender_qdiscs()
    found = results(tmp_path / "r")
    assert found["verdict"] == "interrupted"
    assert {f["kind"] for f in found["faults"]} == {"loss", "rate_limit"}
    assert all(f["end"] is not None and f["end"] - f["start"] < 14 for f in found["faults"])


@pytest.mark.extended
def test_a_killed_run_leaves_its_faults_to_the_next_run(local_lab: None, tmp_path: Path) -> None:
    scenario = tmp_path / "fault_cut.yaml"
    scenario.write_text(LONG_LOSS)
    harness = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab",
                                "local", "--reports", str(tmp_path / "r")], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: nft_fault_tables() and "tbf" in sender_qdiscs(), 90)
        os.killpg(harness.pid, signal.SIGKILL)  # no finally of the harness runs: its faults stay in force
        harness.wait(timeout=30)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
    assert nft_fault_tables() and "tbf" in sender_qdiscs()
    clean = tmp_path / "clean.yaml"
    clean.write_text(LONG_LOSS.split("faults:")[0].replace("name: fault_cut", "name: fault_after")
                     .replace("scan_length: 20s", "scan_length: 2s"))
    done = run(clean, tmp_path / "r2")
    assert nft_fault_tables() == [] and "tbf" not in sender_qdiscs()
    found = results(tmp_path / "r2")
    reaped = [line for line in found["orphans_stopped"] if line.startswith("fault ")]
    assert len(reaped) == 2 and any("nft delete table netdev vlbi_fault_0" in line for line in reaped), reaped
    assert done.returncode == 0 and found["verdict"] == "pass", done.stdout[-2000:]


LOSS_IN_ONE_SCAN = """\
name: fault_loss
lab: {{inventory: local, disks: 2}}
stream: {{payload_bytes: 8000, threads: 2, udps: true, fps: 5000, port: 52030}}
recorder: {{backend: {backend}, protocol: udps, workbuf: 16M{binary}}}
schedule: {{scans: 3, scan_length: 4s, gap: 1s}}
faults:
  - {{kind: loss, scan: 2, at: 1s, duration: 2s, fraction: 0.5%}}
"""


@pytest.mark.extended  # the faults demo has the same random loss in its first scan, with the other scans beside
def test_loss_of_half_a_percent_in_one_scan_is_counted_there_and_nowhere_else(local_lab: None,
                                                                              tmp_path: Path) -> None:
    scenario = tmp_path / "fault_loss.yaml"
    scenario.write_text(LOSS_IN_ONE_SCAN.format(backend="reference", binary=""))
    done = run(scenario, tmp_path / "r")
    found = results(tmp_path / "r")
    (fault,) = found["faults"]
    first, second, third = found["scans"]
    assert second["lost_frames"] == fault["injected"]["dropped"] > 0, done.stdout[-2000:]
    assert first["lost_frames"] == third["lost_frames"] == 0 and first["passed"] and third["passed"]
    assert fault["end"] - fault["start"] == pytest.approx(2.0, abs=0.2)
    only(second["problems"])
    assert {"lost_frames", "invalid_frames"} <= set(found["breached"])  # the fill frames stand in for the lost


@pytest.mark.jive5ab
@pytest.mark.skipif(not os.environ.get("JIVE5AB_BIN"), reason="JIVE5AB_BIN is not set: no jive5ab binary to test")
def test_jive5ab_under_loss_its_own_counters_against_the_truth(local_lab: None, tmp_path: Path) -> None:
    scenario = tmp_path / "fault_loss.yaml"
    binary = os.environ["JIVE5AB_BIN"]
    scenario.write_text(LOSS_IN_ONE_SCAN.format(backend="jive5ab", binary=f", binary: {binary}"))
    done = run(scenario, tmp_path / "r")
    found = results(tmp_path / "r")
    (fault,) = found["faults"]
    second = found["scans"][1]
    assert second["lost_frames"] >= fault["injected"]["dropped"] > 0, done.stdout[-2000:]
    for scan in found["scans"]:  # where evlbi? disagrees with the recording, the scan says so with both numbers
        said = scan["recorder_stats"].get("lost")
        disagreement = [p for p in scan["problems"] if p.startswith("the recorder reports ")]
        if said is not None and said != scan["lost_frames"]:
            assert disagreement == [f"the recorder reports {said} lost (evlbi?); {scan['lost_frames']} frames are "
                                    f"missing from the recording ({scan['lost_frames'] - said:+d})"]
        else:
            assert disagreement == []
