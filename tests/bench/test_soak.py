"""bench.soak's judgement of a run's slopes, and its synthetic 12-hour folder (pure, on made-up samples)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.soak import cadence, judge_count, judge_rss, resample, soak_argv, synthetic_run, trends, warm_up_end

HOUR = 3600.0


def test_rss_growth_is_judged_by_its_fitted_slope_through_the_noise():
    t = np.arange(0, HOUR, 10.0)
    noise = np.random.default_rng(1).normal(0, 0.5e6, len(t))  # +-0.5 MB of allocator noise each sample
    assert judge_rss("harness rss", t, 80e6 + noise).passed
    leak = judge_rss("harness rss", t, 80e6 + noise + 2e6 * t / HOUR)  # 2 MB an hour
    assert not leak.passed and 1.5 < leak.slope_per_hour < 2.5


def test_a_warm_up_that_levels_off_is_no_leak_but_a_steady_leak_after_it_is():
    t = np.arange(0, HOUR, 10.0)
    warm = 80e6 + 3e6 * (1 - np.exp(-t / 600))  # 3 MB over the first ~20 minutes, then flat
    judged = judge_rss("harness rss", t, warm)
    assert judged.passed and "whole run after the first scan: 2." in judged.bound  # shown, not judged
    assert not judge_rss("harness rss", t, warm + 1.5e6 * t / HOUR).passed  # and 1.5 MB/h on top of it


def test_open_files_that_rise_and_fall_with_each_scan_are_no_growth_but_a_leak_is():
    t = np.arange(0, HOUR, 10.0)
    per_scan = 20 + (t % 150 < 140) * 4.0  # four chunk files open while a scan records, closed in its gap
    assert judge_count("recorder fds", t, per_scan).passed
    leaking = per_scan + (t // 150)  # one more left open after every scan
    assert not judge_count("recorder fds", t, leaking).passed


def test_resampling_keeps_the_last_sample_of_each_tick():
    times, values = resample(np.array([0.0, 1, 2, 12, 13, 25]), np.array([1.0, 2, np.nan, 4, 5, 6]), 10.0)
    assert list(times) == [0.0, 10.0, 20.0] and list(values) == [1.0, 2.0, 5.0]


def run_folder(tmp_path: Path, scans: int = 3, period: float = 1.0, per_scan: int = 20) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    rows = []
    for s in range(scans):
        for k in range(per_scan):
            t = 1000.0 + (s * per_scan + k) * period
            rows.append({"t": t, "scan": f"soak_{s + 1:03d}" if k < per_scan - 2 else None,
                         "harness": {"rss_bytes": 5e7, "fds": 10, "threads": 4},
                         "recorder": {"rss_bytes": 7e7, "fds": 6, "threads": 3}})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = {"scenario": "soak", "scans": [{"name": f"soak_{s + 1:03d}", "capture_started": 1000.0 + s * per_scan}
                                             for s in range(scans)]}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_the_warm_up_is_the_first_scan_and_every_process_is_judged(tmp_path: Path):
    rows = [json.loads(line) for line in (run_folder(tmp_path) / "metrics.jsonl").read_text().splitlines()]
    assert warm_up_end(rows) == 1020.0
    found = trends(rows, 1.0)
    assert [t.name for t in found] == ["harness rss", "harness fds", "harness threads", "recorder rss",
                                       "recorder fds", "recorder threads"]
    assert all(t.passed for t in found) and found[0].samples == 40


def test_the_synthetic_twelve_hours_repeat_the_run_shifted_with_unique_scan_names(tmp_path: Path):
    run = run_folder(tmp_path)  # 60 samples a second apart: one minute
    folder = synthetic_run(run, tmp_path / "out", 1.0)  # an hour: 60 copies
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3600 and np.all(np.diff([r["t"] for r in rows]) == 1.0)
    scans = json.loads((folder / "results.json").read_text())["scans"]
    assert len(scans) == 180 and len({s["name"] for s in scans}) == 180
    assert scans[-1]["capture_started"] == 1040.0 + 59 * 60


def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--judge", str(tmp_path)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and "no metrics.jsonl (not a run folder)" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_scans_come_as_often_as_the_metrics_say(tmp_path: Path):
    rows = [json.loads(line) for line in (run_folder(tmp_path) / "metrics.jsonl").read_text().splitlines()]
    assert cadence(rows) == {"scans": 3, "seconds_per_scan": 20.0}


MEERKAT = Path(__file__).resolve().parents[2] / "scenarios" / "meerkat_rate.yaml"


def test_an_hour_of_its_own_scans_is_the_scenarios_first_hour(tmp_path: Path):
    argv = soak_argv(MEERKAT, 1.0, tmp_path, own_scans=True)
    kept = [f"meerkat_rate_{n:03d}" for n in range(1, 7)]  # 10-minute scans 10 s apart: 6 in 61 minutes
    assert "--duration-scale" not in argv
    collected = subprocess.run([*argv, "--collect-only", "-q"], capture_output=True, text=True, timeout=120,
                               check=False).stdout  # what pytest itself selects with that command line
    scans = re.findall(r"::(meerkat_rate_\d+)$", collected, flags=re.M)
    assert scans == kept, collected[-2000:]
    squeezed = soak_argv(MEERKAT, 1.0, tmp_path)  # by default the 4-hour schedule squeezed into the hour
    assert "-k" not in squeezed and squeezed[squeezed.index("--duration-scale") + 1] == "0.245902"


def test_more_hours_than_the_schedule_has_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--hours", "5", "--own-scans", "--scenario",
                           str(MEERKAT)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--own-scans" in done.stderr


TEARS_DOWN = """
import signal, sys, time
from pathlib import Path
def down(signum, frame):
    time.sleep(1.0)  # a teardown that takes its time
    Path(sys.argv[1]).write_text("torn down")
    sys.exit(1)
signal.signal(signal.SIGINT, down)
Path(sys.argv[1] + ".up").write_text("up")
time.sleep(60)
"""

SOAK = """
import sys
from bench.soak import run_to_its_end
try:
    run_to_its_end([sys.executable, "-c", sys.argv[1], sys.argv[2]])
except KeyboardInterrupt:
    print("interrupted after the harness ended")
"""


def test_ctrl_c_waits_for_the_harness_to_tear_down(tmp_path: Path):
    """An interrupt of bench.soak alone is passed on, and it returns only once the harness has torn down (it once
    killed the harness at once, leaving its recorder running)."""
    import signal
    import time

    mark = tmp_path / "mark"
    soak = subprocess.Popen([sys.executable, "-c", SOAK, TEARS_DOWN, str(mark)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 30
    while not (tmp_path / "mark.up").exists():
        assert time.monotonic() < deadline and soak.poll() is None
        time.sleep(0.05)
    soak.send_signal(signal.SIGINT)  # to bench.soak only, not its process group
    out, _ = soak.communicate(timeout=30)
    assert mark.read_text() == "torn down" and "interrupted after the harness ended" in out
