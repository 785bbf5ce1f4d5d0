"""The report's loss per second: real checker profiles (from corpus recordings with known holes) placed in a
generated run folder, read beside the recorder's counters of metrics.jsonl, and rendered."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.checker import check
from harness.report import render_run
from harness.report.loss_profile import scan_profiles
from harness.report.run_folder import load_run
from tests.checker.corpus import EXPECT, FPS, SECONDS, START, THREADS, F, clean_items, thread_of, write
from tests.report.runfolders import RunSpec, write_run

SCHEDULED = replace(EXPECT, schedule_start=float(START), schedule_end=float(START + SECONDS))
LOSSY_SCAN = 1


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    monkeypatch.setattr(check, "WINDOW_BYTES", 63 * F)


def dropped(i: int) -> bool:
    """Thread 0 lacks frames 0-39 and thread 2 frames 100-189 (first second); nothing from frame 680 on."""
    k, t = i // 4, thread_of(i)
    return (t == 0 and k < 40) or (t == 2 and 100 <= k < 190) or k >= 680


def profile_json(root: Path, drop) -> dict[str, Any]:
    items = [item for i, item in enumerate(clean_items()) if not drop(i)]
    root.mkdir()
    return write("vbs", root, items).check(SCHEDULED).to_json()["profile"]


@pytest.fixture
def profiled_run(tmp_path: Path) -> Path:
    """Three scans, the second losing frames (and its recorder counting 37 lost); every scan with a profile, moved
    to the scan's own start so it lines up with the metrics."""
    run = write_run(tmp_path / "runs", RunSpec(scenario="profiled", scans=3, failed_scan=LOSSY_SCAN))
    results = json.loads((run / "results.json").read_text())
    clean = profile_json(tmp_path / "clean", lambda i: False)
    lossy = profile_json(tmp_path / "lossy", dropped)
    for index, scan in enumerate(results["scans"]):
        scan["check"]["profile"] = {**(lossy if index == LOSSY_SCAN else clean), "start": scan["started"]}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_the_profile_and_the_recorder_counters_per_second(profiled_run):
    folder = load_run(profiled_run)
    profiles = scan_profiles(folder.results["scans"], folder.metrics)
    assert [p.short_frames for p in profiles] == [0, 410, 0]
    p = profiles[LOSSY_SCAN]
    present = np.zeros(SECONDS, dtype=np.int64)
    for i in range(len(clean_items())):
        if not dropped(i):
            present[(i // 4) // FPS] += 1
    assert p.present.tolist() == present.tolist() == [870, 1000, 720]
    assert p.due.tolist() == [FPS * len(THREADS)] * SECONDS
    assert p.where == (40 + 90, 4 * 70, 0)
    # the recorder's counters, differenced here from metrics.jsonl's lines over the scan's seconds
    rows = [json.loads(line) for line in (profiled_run / "metrics.jsonl").read_text().splitlines()]
    t = np.array([r["t"] for r in rows])
    packets = np.array([r["recorder"]["packets"] for r in rows], dtype=float)
    lost = np.array([r["recorder"]["lost"] for r in rows], dtype=float)
    start = p.t[0]
    inside = np.flatnonzero((t > start) & (t <= start + SECONDS + 1.0))  # up to a metrics period (1 s) after
    assert p.recorder is not None
    assert p.recorder.t.tolist() == t[inside].tolist()
    step = np.diff(t)[inside - 1]
    assert np.allclose(p.recorder.packets, np.diff(packets)[inside - 1] / step)
    assert np.allclose(p.recorder.lost, np.diff(lost)[inside - 1] / step)
    assert np.nansum(p.recorder.lost * step) == 37  # the recorder's own count of the scan's loss


def test_the_report_draws_the_scan_with_loss_and_the_overview(profiled_run):
    html = render_run(profiled_run).read_text()
    name = json.loads((profiled_run / "results.json").read_text())["scans"][LOSSY_SCAN]["name"]
    assert "1 of 3 profiled scans have seconds short of frames on disk" in html
    assert 'id="plot-loss-profile-overview"' in html
    assert 'id="plot-loss-profile-1"' in html and 'id="plot-loss-profile-2"' not in html
    assert f'aria-label="Loss profile of scan {name}"' in html
    assert "410 frames short in 2 s (first second 130, last 280, between 0)" in html
    assert "recorder&#39;s lost/s" in html or "recorder's lost/s" in html


def test_runs_without_profiles_still_render_and_say_so(tmp_path):
    run = write_run(tmp_path, RunSpec(scenario="older", scans=2))
    html = render_run(run).read_text()
    assert "No scan carries a per-second loss profile" in html
    assert "plot-loss-profile" not in html


def test_a_run_whose_scans_are_whole(tmp_path):
    run = write_run(tmp_path / "runs", RunSpec(scenario="whole", scans=2))
    results = json.loads((run / "results.json").read_text())
    clean = profile_json(tmp_path / "clean", lambda i: False)
    for scan in results["scans"]:
        scan["check"]["profile"] = {**clean, "start": scan["started"]}
    (run / "results.json").write_text(json.dumps(results))
    html = render_run(run).read_text()
    assert "Every second of all 2 profiled scans holds every frame due in it." in html
    assert "plot-loss-profile" not in html
