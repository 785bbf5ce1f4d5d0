"""The shipped Mark5B and LWA RBeam scenarios end to end on loopback, as a user runs them (issue 14): vdif-send of
the format -> the reference recorder (Mark5B: two UDPS datagrams a frame; RBeam: raw packets) -> vbs scans on plain
directories -> the format's checker, every scan validated, nothing lost; and a backend that cannot record the
format refused at the preflight in one line, before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.serial  # 256 Mbit/s held to min_rate_fraction 0.99 over 1-s scans: not beside other tests

ROOT = Path(__file__).resolve().parents[2]
SCALE = "0.25"
"""Three scans of 1 s with 0.5 s gaps: under 20 s a run."""


def run_scenario(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"scenarios/{name}.yaml", "--lab", "none",
         "--reports", str(tmp_path / "reports"), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path)})


@pytest.mark.parametrize(("name", "frames_per_scan", "datagrams_per_frame"), [
    ("mark5b", round(4 * 0.25 * 3200), 2),          # 3200 frames/s, each in two datagrams
    ("lwa_rbeam", round(4 * 0.25 * 765625 / 32) * 2, 1),  # two servers at the sequence clock
])
def test_the_shipped_scenario_passes_with_every_frame_recorded(tmp_path, name, frames_per_scan, datagrams_per_frame):
    done = run_scenario(tmp_path, name, "--duration-scale", SCALE)
    assert done.returncode == 0, done.stdout[-3000:]
    results = json.loads((tmp_path / "reports/latest/results.json").read_text())
    assert results["verdict"] == "pass" and results["breached"] == []
    assert results["recorder"]["backend"] == "reference" and results["recorder"]["stream_format"] == name
    assert results["sender"]["stream"]["format"] == name == results["scenario"]["as_run"]["stream"]["format"]
    scans = results["scans"]
    assert [s["name"] for s in scans] == [f"{name}_{n:03d}" for n in (1, 2, 3)]
    for scan in scans:
        assert scan["validated"] and scan["passed"], scan["problems"]
        assert scan["frames_sent"] == scan["valid_frames"] == frames_per_scan
        assert scan["lost_frames"] == scan["invalid_frames"] == scan["corrupt_headers"] == 0
        assert scan["payload_errors"] == scan["duplicate_frames"] == scan["out_of_order_frames"] == 0
        assert scan["recorder_stats"]["packets"] == frames_per_scan * datagrams_per_frame
        assert scan["recorder_stats"]["lost"] == 0
    report = (tmp_path / "reports/latest/report.html").read_text()
    assert f'<div id="recorded-by"><b>{name}</b><span>stream recorded by reference (vdif-record' in report
    assert not list(tmp_path.glob(f"vlbi-{name}-*")), "scratch disks of a passing run are removed"


def test_a_backend_that_cannot_record_the_format_fails_the_preflight_in_one_line(tmp_path):
    done = run_scenario(tmp_path, "mark5b", "--recorder", "jive5ab", "--jive5ab-bin", "/nonexistent/jive5ab")
    assert done.returncode == 1 and "Traceback" not in done.stdout
    results = json.loads((tmp_path / "reports/latest/results.json").read_text())
    failed = [c for c in results["preflight"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["recorder"]
    assert "the jive5ab backend records VDIF streams only here, not mark5b" in failed[0]["detail"]
    assert results["scans"] == []
