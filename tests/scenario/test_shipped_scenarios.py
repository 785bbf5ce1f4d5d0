"""The shipped scenarios on the local lab, as a user runs them: sender in its namespace over the MTU-9000
veth, reference recorder on XFS loop disks, every scan validated, the report written, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.serial,  # the local lab, at its rates
              pytest.mark.skipif(os.geteuid() != 0, reason="the local lab needs root (loop disks, namespaces)")]


def lab_is_up() -> bool:
    out = subprocess.run([sys.executable, "-m", "harness.lab", "status"], capture_output=True, text=True, cwd=ROOT)
    return "lab is down" not in out.stdout


def run_scenario(tmp_path: Path, name: str, *args: str) -> dict:
    was_up = lab_is_up()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"scenarios/{name}.yaml",
                             "--reports", str(tmp_path / "reports"), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:]
    if not was_up:  # the run brought the lab up, so it took it down again: nothing of it may remain
        assert not lab_is_up()
        assert "vlbi" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "/srv/vlbi-lab" not in subprocess.run(["findmnt", "-l"], capture_output=True, text=True).stdout
        assert "vlbi-lab" not in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return json.loads((tmp_path / "reports/latest/results.json").read_text())


def test_smoke_on_the_local_lab_with_its_report(tmp_path):
    results = run_scenario(tmp_path, "smoke")
    assert results["verdict"] == "pass" and len(results["scans"]) == 2
    for scan in results["scans"]:
        assert scan["lost_frames"] == 0 and scan["valid_frames"] == scan["frames_sent"] == 64000
        transport = scan["sender"]["transport"]
        # sent from the sender node's namespace to the recorder across the veth, whole 5040-byte datagrams
        assert transport["destination"] == "198.18.0.1:52030" and transport["route_mtu"] == 9000
    assert all(check["passed"] for check in results["preflight"])
    exposure = next(c for c in results["preflight"] if c["name"] == "recorder control port not on the data network")
    assert exposure["detail"].startswith("198.18.0.1:") and "does not answer" in exposure["detail"]
    run = (tmp_path / "reports/latest").resolve()
    report = (run / "report.html").read_text()
    assert not re.search(r"https?://", report)
    for shown in ("PASS", "Thresholds", "Scans", "smoke_001", "<svg"):
        assert shown in report
    assert (tmp_path / "reports/index.html").exists()


@pytest.mark.soak  # 24 scans, about 100 s: `make test-soak` (smoke covers the same path in make test)
def test_meerkat_rate_scaled_every_scan_validated_nothing_lost(tmp_path):
    results = run_scenario(tmp_path, "meerkat_rate", "--duration-scale", "0.002")
    scans = results["scans"]
    assert results["verdict"] == "pass" and len(scans) == 24
    assert all(s["validated"] and s["lost_frames"] == 0 and s["frames_sent"] > 0 for s in scans)
    assert {len(s["check"]["threads"]) for s in scans} == {4}


# The default suite has the loopback run's Ctrl-C (test_run_engine: results kept, the scan validated) and three
# Ctrl-C on the lab (a run that brought the lab up through ansible-runner: the remote sender and the lab stopped)
@pytest.mark.extended
def test_ctrl_c_on_the_lab_stops_the_remote_sender_and_keeps_results(tmp_path):
    """Provisioning runs ansible-runner in-process, which takes over SIGINT/SIGTERM: the run must take them
    back, or Ctrl-C would be swallowed and the soak would run on."""
    import signal
    import time

    was_up = lab_is_up()
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "scenarios/smoke.yaml",
                                "--duration-scale", "10", "--reports", str(tmp_path / "reports")],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = tmp_path / "reports" / "latest" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (metrics.exists() and '"frames":' in metrics.read_text()):
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    results = json.loads((tmp_path / "reports/latest/results.json").read_text())
    assert results["verdict"] == "interrupted", out[-3000:]
    scan = results["scans"][0]
    assert scan["interrupted"] and scan["validated"] and 0 < scan["frames_sent"] < 64000 * 10
    assert scan["lost_frames"] == 0
    senders = subprocess.run(["pgrep", "-f", "harness.sender --dest 198.18"], capture_output=True, text=True)
    assert senders.stdout == "", "a sender is still running"
    if not was_up:
        assert not lab_is_up()


# psutil's /proc walk can leave a scandir iterator to the GC when a process exits mid-walk
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_three_ctrl_c_on_the_lab_still_stop_everything_the_run_started(tmp_path):
    """Ctrl-C three times within a second while a run that brought the local lab up records: the second and
    third press only hurry the stop (harness/scenario/engine.py signals_deferred, hurry_stop); the recorder,
    the remote sender and the lab itself (when the run brought it up; else it is left up) are all stopped."""
    import signal
    import time

    import psutil

    was_up = lab_is_up()  # then the run uses that lab and must leave it up; else it brings it up and down
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "scenarios/smoke.yaml",
                                "--duration-scale", "10", "--reports", str(tmp_path / "reports")],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = tmp_path / "reports" / "latest" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (metrics.exists() and '"frames":' in metrics.read_text()):
        time.sleep(0.5)
    family = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(p.cmdline()) for p in family]
    assert any("harness.recorder" in c for c in commands) and any("harness.lab.remote" in c for c in commands), \
        commands  # the recorder, and the SSH session to the sender node
    assert lab_is_up()
    for _ in range(3):
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, _ = process.communicate(timeout=300)
    assert "Traceback" not in out, out[-3000:]
    assert json.loads((tmp_path / "reports/latest/results.json").read_text())["verdict"] == "interrupted", out[-3000:]

    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10  # multiprocessing's resource tracker ends once it sees its pipe close
    while time.monotonic() < deadline and any(running(p) for p in family):
        time.sleep(0.1)
    assert not [p for p in family if running(p)], [p.cmdline() for p in family if running(p)]
    senders = subprocess.run(["pgrep", "-f", "harness.sender --dest 198.18"], capture_output=True, text=True)
    assert senders.stdout == "", "a sender is still running on the sender node"
    if was_up:
        assert lab_is_up(), "the run took down a lab it did not bring up"
        return
    assert not lab_is_up()
    assert "vlbi" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "/srv/vlbi-lab" not in subprocess.run(["findmnt", "-l"], capture_output=True, text=True).stdout
    assert "vlbi-lab" not in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout


def test_a_run_killed_with_sigkill_on_the_lab_leaves_nothing_once_the_next_run_ends(tmp_path):
    """A harness killed with SIGKILL while the lab it brought up records: the next run (here a loopback one)
    stops the killed run's recorder and sender, takes the lab over and takes it down at its end."""
    import signal
    import time

    import psutil

    if lab_is_up():
        pytest.skip("the local lab is up already (another run's): this test needs to see a run bring it up")
    killed = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "scenarios/smoke.yaml",
                               "--duration-scale", "10", "--reports", str(tmp_path / "killed")],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "latest" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (metrics.exists() and '"frames":' in metrics.read_text()):
        time.sleep(0.5)
    left = [p for p in psutil.Process(killed.pid).children(recursive=True)]
    assert left, "the run started nothing to leave behind"
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    assert lab_is_up()
    results = run_scenario(tmp_path, "smoke", "--lab", "none", "--duration-scale", "0.2")
    assert any("up since the killed run smoke" in line for line in results["orphans_stopped"]), \
        results["orphans_stopped"]
    assert any("harness.recorder" in line for line in results["orphans_stopped"])
    assert not lab_is_up()
    assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert "vlbi" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "/srv/vlbi-lab" not in subprocess.run(["findmnt", "-l"], capture_output=True, text=True).stdout
    assert "vlbi-lab" not in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
