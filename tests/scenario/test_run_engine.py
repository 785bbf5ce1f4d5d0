"""The run engine end to end on loopback: real sender, reference recorder, checker, results on disk."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_udp_port
from tests.waiting import wait_until

SCENARIO = """\
name: {name}
stream:
  payload_bytes: 1000
  threads: 2
  fps: {fps}
  station: Mk
  payload: pattern
  udps: true
  port: {port}
recorder:
  backend: reference
  workbuf: 1M
  writers: 2
schedule:
  scans: {scans}
  scan_length: {length}
  gap: {gap}
  rolling: {rolling}
thresholds:
{thresholds}metrics_period: {period}
"""


def write_scenario(tmp_path: Path, name: str = "e2e", *, scans: int = 2, length: str = "2s", gap: str = "0.5s",
                   fps: int = 1000, rolling: bool = False, thresholds: str = "  lost_frames: 0\n",
                   period: str = "0.5s") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SCENARIO.format(name=name, fps=fps, port=free_udp_port(), scans=scans, length=length, gap=gap,
                                    rolling=str(rolling).lower(), thresholds=thresholds, period=period))
    return path


def run_pytest(tmp_path: Path, scenario: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
         "--reports", str(tmp_path / "reports"), "--junitxml", str(tmp_path / "junit.xml"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
        env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path)})


def latest_results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def test_a_clean_run_passes_with_every_scan_validated(tmp_path):
    scenario = write_scenario(tmp_path)
    result = run_pytest(tmp_path, scenario)
    assert result.returncode == 0, result.stdout[-3000:]
    results = latest_results(tmp_path)
    assert results["verdict"] == "pass"
    assert [s["name"] for s in results["scans"]] == ["e2e_001", "e2e_002"]
    for scan in results["scans"]:
        assert scan["frames_sent"] == 2 * 1000 * 2 and scan["valid_frames"] == scan["frames_sent"]
        assert scan["lost_frames"] == 0 and scan["payload_errors"] == 0 and scan["check"]["frames"] == 4000
        assert scan["recorder_stats"]["packets"] == 4000
        profile = scan["check"]["profile"]  # judged by the sender's schedule: 2 s of 1000 frames/s, 2 threads
        assert profile["due_source"] == "schedule" and profile["short_frames"] == 0 and profile["present"] is None
        assert profile["due_last_frame"] - profile["due_first_frame"] + 1 == 2000
    assert {t["name"] for t in results["thresholds"]} >= {"lost_frames", "rcvbuf_errors"}
    metrics = [json.loads(line) for line in (tmp_path / "reports/latest/metrics.jsonl").read_text().splitlines()]
    assert len(metrics) >= 6 and any(m["scan"] == "e2e_001" for m in metrics)
    assert any((m.get("recorder") or {}).get("packets", 0) > 0 for m in metrics)
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["preflight", "e2e_001", "e2e_002", "thresholds"]
    assert not list(tmp_path.glob("vlbi-e2e-*")), "scratch disks of a passing run are removed"


def test_deselected_scans_are_not_recorded(tmp_path):
    scenario = write_scenario(tmp_path, "pick", scans=3, length="1s")
    result = run_pytest(tmp_path, scenario, "-k", "pick_002")
    assert result.returncode == 0, result.stdout[-3000:]
    results = latest_results(tmp_path)
    assert [s["name"] for s in results["scans"]] == ["pick_002"] and results["scans"][0]["passed"]
    assert results["skipped_scans"] == {"pick_001": "deselected", "pick_003": "deselected"}


def test_a_breached_threshold_fails_in_one_line_naming_it(tmp_path):
    scenario = write_scenario(tmp_path, "breach", scans=1, thresholds="  min_rate_fraction: 1.5\n")
    result = run_pytest(tmp_path, scenario)
    assert result.returncode == 1
    assert "scan breach_001: rate " in result.stdout and " of nominal < 1.5" in result.stdout
    assert "breach: thresholds breached: min_rate_fraction" in result.stdout
    assert "Traceback" not in result.stdout
    assert latest_results(tmp_path)["verdict"] == "fail"


def start_sending(tmp_path: Path, scenario: Path) -> subprocess.Popen[str]:
    """A scenario run in its own pytest, once its first scan is sending."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
         "--reports", str(tmp_path / "reports")], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path)})
    metrics = tmp_path / "reports" / "latest" / "metrics.jsonl"
    wait_until(lambda: metrics.exists() and '"frames":' in metrics.read_text(), timeout=120,
               what="the first scan to be sending")
    return process


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def assert_all_end(processes: list[psutil.Process], what: str) -> None:
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not running(processes), timeout=10, what=what)
    assert not running(processes), f"left running: {[p.cmdline() for p in running(processes)]}"


# psutil's /proc walk can leave a scandir iterator to the GC when a process exits mid-walk
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_during_a_scan_leaves_interrupted_results_and_no_process(tmp_path):
    process = start_sending(tmp_path, write_scenario(tmp_path, "stopme", scans=3, length="20s"))
    family = psutil.Process(process.pid).children(recursive=True)
    assert family, "the run should have started the sender and recorder"
    # while it records, nothing of the run listens on every interface: data and control on loopback only
    sockets = [(p.cmdline()[-1], c.laddr) for p in [psutil.Process(process.pid), *running(family)]
               for c in p.net_connections(kind="inet") if c.status in ("LISTEN", "NONE")]
    assert sockets and all(addr.ip == "127.0.0.1" for _, addr in sockets), sockets
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    results = latest_results(tmp_path)
    assert results["verdict"] == "interrupted", out[-2000:]
    first = results["scans"][0]
    assert first["interrupted"] and first["validated"] and first["frames_sent"] > 0
    assert first["lost_frames"] == 0 and first["valid_frames"] == first["frames_sent"]
    assert len(results["scans"]) == 1
    assert_all_end(family, "the run's processes to end")


# psutil's /proc walk can leave a scandir iterator to the GC when a process exits mid-walk
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_three_ctrl_c_in_a_second_still_stop_everything_the_run_started(tmp_path):
    process = start_sending(tmp_path, write_scenario(tmp_path, "impatient", scans=3, length="20s"))
    family = psutil.Process(process.pid).children(recursive=True)
    for _ in range(3):
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, _ = process.communicate(timeout=180)
    assert "Traceback" not in out, out[-3000:]
    assert latest_results(tmp_path)["verdict"] == "interrupted", out[-3000:]
    assert_all_end(family, "the run's processes to end")


def test_a_run_killed_with_sigkill_is_cleaned_up_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("VLBI_RUN_LOCKS", str(tmp_path / "locks"))  # its own: no other run reaps these orphans
    process = start_sending(tmp_path, write_scenario(tmp_path, "killed", scans=2, length="30s"))
    orphans = psutil.Process(process.pid).children(recursive=True)
    process.kill()  # SIGKILL: no teardown at all
    process.communicate(timeout=30)
    survivors = running(orphans)
    assert any("harness.recorder" in " ".join(p.cmdline()) for p in survivors), "the recorder should outlive it"
    second = run_pytest(tmp_path, write_scenario(tmp_path, "next", scans=1, length="1s"))
    assert second.returncode == 0, second.stdout[-3000:]
    stopped = latest_results(tmp_path)["orphans_stopped"]
    assert any("harness.recorder" in line and "of killed run killed" in line for line in stopped), stopped
    assert_all_end(survivors, "the killed run's processes to be gone")


INJECTED_BUG = """\
from harness.scenario.recording import ScanRecorder

_send = ScanRecorder._send


def broken(self, outcome, *rest):
    if outcome.name.endswith("_001"):
        raise TypeError("injected harness bug")
    return _send(self, outcome, *rest)


ScanRecorder._send = broken
"""


def test_a_harness_bug_is_a_traceback_on_its_scan_not_a_finding(tmp_path):
    (tmp_path / "inject_bug.py").write_text(INJECTED_BUG)
    scenario = write_scenario(tmp_path, "buggy", length="1s")
    result = run_pytest(tmp_path, scenario, "-p", "inject_bug")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "TypeError: injected harness bug" in result.stdout and "def broken(self, outcome, *rest):" in result.stdout
    assert "FAILED buggy.yaml::buggy_001 - " in result.stdout, result.stdout[-3000:]
    assert "HarnessBug: scan buggy_001: TypeError: injected harness bug" in result.stdout
    results = latest_results(tmp_path)
    first, second = results["scans"]
    assert first["problems"] == ["harness error while recording buggy_001: TypeError: injected harness bug "
                                 "(traceback in the test report)"]
    # the run went on: the next scan recorded whole (its rate over 1 s is not this test's: a loaded machine's
    # 17 ms late start once made it 0.983 of nominal, breaching min_rate_fraction)
    assert second["validated"] and second["problems"] == [] and second["lost_frames"] == 0
    assert second["valid_frames"] == second["frames_sent"] > 0


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_scaled_run(tmp_path):
    """12 short scans with rolling deletion: the harness's RSS at the end is within 15 MB of the start, and it
    holds no more files open (an hour of endurance is bench.soak's, opt-in)."""
    scenario = write_scenario(tmp_path, "flat", scans=12, length="1s", gap="0.1s", fps=2000, rolling=True,
                              period="0.2s")
    result = run_pytest(tmp_path, scenario, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:]
    samples = [json.loads(line) for line in (tmp_path / "reports/latest/metrics.jsonl").read_text().splitlines()]
    rss = [s["harness"]["rss_bytes"] for s in samples if s.get("harness")]
    assert len(rss) > 50
    third = len(rss) // 3
    early, late = max(rss[third: 2 * third]), max(rss[2 * third:])
    assert late - early < 15 << 20, f"RSS grew from {early} to {late}"
    fds = [s["harness"]["fds"] for s in samples if s.get("harness")]
    assert max(fds[2 * third:]) <= max(fds[third: 2 * third]), f"open files grew: {fds[third:]}"
    results = latest_results(tmp_path)
    assert len(results["scans"]) == 12 and all(s["deleted"] for s in results["scans"])


CHECKER_BUG = """\
import harness.checker.check as check

_check_recording = check.check_recording


def broken_checker(recording, expect):
    if "buggy_001" in str(recording.source):
        raise ZeroDivisionError("injected checker bug")
    return _check_recording(recording, expect)


check.check_recording = broken_checker
"""


def test_a_checker_bug_is_a_traceback_on_its_scan_not_a_finding(tmp_path):
    """The checker runs in a worker process; a bug there (not a recording it cannot read) must reach the scan's
    item as a harness error with its traceback, and the run goes on."""
    (tmp_path / "sitecustomize.py").write_text(CHECKER_BUG)  # loaded by every Python the run starts, the worker too
    scenario = write_scenario(tmp_path, "buggy", length="1s")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
         "--reports", str(tmp_path / "reports")], capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path), "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout[-3000:]
    assert "HarnessBug: scan buggy_001: ZeroDivisionError: injected checker bug" in result.stdout, result.stdout[-3000:]
    assert 'raise ZeroDivisionError("injected checker bug")' in result.stdout  # the worker's traceback
    first, second = latest_results(tmp_path)["scans"]
    assert first["problems"] == ["harness error while validating buggy_001: ZeroDivisionError: injected checker bug "
                                 "(traceback in the test report)"]
    assert second["passed"] and second["lost_frames"] == 0


CHECKER_DEATH = """\
import os
import signal

import harness.checker.check as check

_check_recording = check.check_recording


def dying_checker(recording, expect):
    if "crash_001" in str(recording.source):
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process really dies, as under the OOM killer
    return _check_recording(recording, expect)


check.check_recording = dying_checker
"""


def test_a_dead_checker_process_fails_its_scan_and_the_later_scans_are_still_validated(tmp_path):
    """SIGKILL of the checker's worker while it validates scan 1: scan 1 says its check died; a new worker
    validates scans 2 and 3 (a broken ProcessPoolExecutor used to fail every later validation)."""
    (tmp_path / "sitecustomize.py").write_text(CHECKER_DEATH)  # loaded by every Python the run starts
    scenario = write_scenario(tmp_path, "crash", scans=3, length="1s")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
         "--reports", str(tmp_path / "reports")], capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path), "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout[-3000:]
    first, second, third = latest_results(tmp_path)["scans"]
    assert not first["passed"] and not first["validated"]
    assert len(first["problems"]) == 1 and first["problems"][0].startswith(
        "the checker's process died while validating crash_001"), first["problems"]
    for later in (second, third):
        assert later["passed"] and later["validated"] and later["lost_frames"] == 0, later["problems"]


def test_a_hung_recorder_is_named_within_two_metric_periods_and_the_run_moves_on(tmp_path):
    """The reference recorder really SIGSTOPped in the middle of scan 1 (and left so): scan 1 names it hung
    within two metric periods of the stop, scan 2 is refused at once, and the run tears down and ends in well
    under record=off's 180 s; nothing is left running."""
    period = 0.5
    process = start_sending(tmp_path, write_scenario(tmp_path, "hung", scans=2, length="4s", gap="0.5s",
                                                     period=f"{period}s"))
    family = psutil.Process(process.pid).children(recursive=True)
    recorders = [p for p in family if "harness.recorder" in " ".join(p.cmdline())]
    assert len(recorders) == 1, [p.cmdline() for p in family]
    time.sleep(1.0)  # the scan is recording
    os.kill(recorders[0].pid, signal.SIGSTOP)
    stopped = time.time()
    try:
        out, _ = process.communicate(timeout=150)
    finally:  # a run that hangs with its recorder must not outlive the test
        for leftover in running([psutil.Process(process.pid), *family]) if process.poll() is None else []:
            leftover.kill()
    took = time.time() - stopped
    assert took < 60, f"the run took {took:.0f} s after the recorder hung: {out[-2000:]}"
    results = latest_results(tmp_path)
    first, second = results["scans"]
    hung = [p for p in first["problems"] if p.startswith("recorder hung during hung_001: no reply to")]
    assert len(hung) == 1, first["problems"]
    assert "not answered again" in hung[0]
    assert not first["passed"] and not second["passed"]
    assert second["problems"][0].startswith("recorder refused to start hung_002"), second["problems"]
    metrics = (tmp_path / "reports" / "latest" / "metrics.jsonl").read_text()
    samples = [json.loads(line) for line in metrics.splitlines()]
    silent = [s for s in samples if s["t"] >= stopped and "error" in (s.get("recorder") or {})]
    assert silent, "no metrics sample saw the recorder silent"
    named = silent[0]["t"] + max(0.5, period)  # the poll that began then gave up this much later
    assert named - stopped <= 2 * period + 0.3, f"named {named - stopped:.2f} s after the stop"
    assert_all_end(family, "the run's processes to end")
