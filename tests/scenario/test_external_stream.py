"""External streams (the CBF path): the declared stream reaches the checker, the capture window too, lost frames
count what the declared stream should have carried; ``--stand-in-sender`` has vdif-send stand in for the CBF
(end to end on loopback: clean it passes, with a thread skipped it fails naming the thread and its frames)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import stand_in
from harness.scenario.loading import load_scenario
from harness.scenario.nodes import LoopbackNodes
from harness.scenario.outcome import ScanOutcome
from harness.scenario.setup import RunOptions
from harness.scenario.validation import expectation_fields
from tests.conftest import free_udp_port
from tests.scenario.test_run_engine import latest_results, run_pytest

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = """\
name: {name}
stream:
  source: external
  payload_bytes: 1000
  threads: 4
  fps: {fps}
  station: Mk
  udps: true
  port: {port}
  multicast: 239.10.0.9
recorder:
  backend: reference
  workbuf: 1M
schedule:
  scans: 1
  scan_length: {length}
  capture_tolerance: 0.25s
metrics_period: 0.5s
"""


def external(name: str = "cbf", fps: int = 1000, length: str = "1s", port: int = 52030) -> str:
    return EXTERNAL.format(name=name, fps=fps, length=length, port=port)


OPTIONS = RunOptions(reports=Path("reports"))
STAND_IN = RunOptions(reports=Path("reports"), stand_in_sender=True)


# ---------------------------------------------------------------------------------------------- pure
def test_the_checker_is_told_the_declared_stream_but_not_a_payload_pattern():
    scenario = load_scenario("x.yaml", external())
    assert expectation_fields(scenario) == {"frame_bytes": 1032, "threads": (0, 1, 2, 3), "fps": 1000,
                                            "station": 0x4D6B, "bits": 2, "nchan": 1, "complex": False, "edv": 0,
                                            "payload": None}
    meerkat = load_scenario(ROOT / "scenarios/cbf_predeploy.yaml")
    assert expectation_fields(meerkat) | {"payload": None} == {
        "frame_bytes": 5032, "threads": (0, 1, 2, 3), "fps": 3200, "station": 0x4D6B, "bits": 2, "nchan": 1,
        "complex": False, "edv": 0, "payload": None}
    assert meerkat.stream.source == "external" and meerkat.stream.multicast and meerkat.stream.port == 52030
    assert meerkat.stream.udps and meerkat.recorder.backend == "katcp"  # through the KATCP path


def test_the_window_is_the_recording_and_with_the_stand_in_only_where_it_sent():
    scenario = load_scenario("x.yaml", external())
    outcome = ScanOutcome("cbf_001", "", capture_started=1000.2, capture_stopped=1003.5)
    assert stand_in.capture_window(scenario, outcome) == {"window_start": 1000.2, "window_end": 1003.5,
                                                          "window_tolerance_s": 0.25}
    outcome.stand_in = True
    outcome.sender = {"first_frame_posix": 1001.0, "schedule_end_posix": 1003.0}
    assert stand_in.capture_window(scenario, outcome) == {"window_start": 1001.0, "window_end": 1003.0,
                                                          "window_tolerance_s": 0.25}
    refused = ScanOutcome("cbf_001", "")  # record=on refused: no window
    assert stand_in.capture_window(scenario, refused) == {}
    harness = load_scenario("x.yaml", external().replace("source: external", "source: harness"))
    assert stand_in.capture_window(harness, outcome) == {}


def check(**counts: int) -> dict:
    return {"valid_frames": 0, "invalid_frames": 0, "duplicate_frames": 0, "missing_frames": 0, **counts}


def test_lost_frames_of_a_real_cbf_and_of_the_stand_in():
    cbf = ScanOutcome("cbf_001", "")
    cbf.apply_check(check(valid_frames=6000, invalid_frames=2000, missing_frames=30), 1032)
    assert cbf.lost_frames == 2030  # missing (a thread, edges, gaps) + invalid
    sent = ScanOutcome("cbf_001", "", frames_sent=6000, frames_expected=8000, stand_in=True)
    sent.apply_check(check(valid_frames=6000, invalid_frames=2000), 1032)
    assert sent.lost_frames == 2000  # the declared stream carried 8000, a skipped thread's too


def test_a_failed_scan_names_what_the_stream_got_wrong():
    outcome = ScanOutcome("cbf_001", "", breaches=["lost_frames 2000 > 0"])
    outcome.check = {"findings": [
        {"kind": "invalid_frames", "detail": "jive5ab fill frame"},
        {"kind": "missing_thread", "detail": "thread 1 has no frame in the recording: all 2000 of its frames ..."},
        *({"kind": "station", "detail": f"{n} frames carry station 'XX'"} for n in range(5))]}
    assert outcome.summary() == ("lost_frames 2000 > 0; missing_thread: thread 1 has no frame in the recording: all "
                                 "2000 of its frames ...; station: 0 frames carry station 'XX'; station: 1 frames "
                                 "carry station 'XX'; station: 2 frames carry station 'XX'; 2 more such findings in "
                                 "results.json")
    outcome.breaches = []
    assert outcome.summary() == ""


def test_what_the_preflight_says_of_the_stand_in():
    scenario = load_scenario("x.yaml", external())
    loopback = LoopbackNodes(mount_points=["/tmp"])
    line = stand_in.preflight_line(scenario, RunOptions(reports=Path("r"), stand_in_sender=True,
                                                        stand_in_skip_threads=(2, 2)), loopback)
    assert line == ("vdif-send stands in for the CBF: 4 threads at 1000 frames/s, station Mk, 1032-byte frames, "
                    "EDV 0, udps sequence numbers, pattern payload, to 239.10.0.9:52030; thread 2 never sent "
                    "(--stand-in-skip-thread)")
    assert stand_in.preflight_line(scenario, OPTIONS, loopback) is None
    assert stand_in.skipped_threads(scenario, RunOptions(reports=Path("r"), stand_in_skip_threads=(1,))) == ()


@pytest.mark.parametrize(("skip", "reason"), [
    ((4,), "--stand-in-skip-thread 4: the stream's threads are 0..3"),
    ((0, 1, 2, 3), "every thread of the stream skipped"),
])
def test_skipped_threads_must_be_the_streams(skip, reason):
    scenario = load_scenario("x.yaml", external())
    options = RunOptions(reports=Path("r"), stand_in_sender=True, stand_in_skip_threads=skip)
    assert reason in (stand_in.refusal(scenario, options) or "")
    assert stand_in.refusal(scenario, STAND_IN) is None


# ---------------------------------------------------------------------------------------------- end to end
def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(external(name, port=free_udp_port()))
    return path


def test_the_stand_in_sends_the_declared_stream_and_a_clean_run_passes(tmp_path):
    result = run_pytest(tmp_path, write(tmp_path, "cbf"), "--stand-in-sender")
    assert result.returncode == 0, result.stdout[-3000:]
    results = latest_results(tmp_path)
    assert results["verdict"] == "pass" and results["stand_in_sender"] == {"skip_threads": []}
    (scan,) = results["scans"]
    assert scan["stand_in"] and scan["frames_sent"] == scan["frames_expected"] == 4 * 1000
    assert scan["lost_frames"] == 0 and scan["valid_frames"] == 4000 and scan["check"]["counts"] == {}
    assert scan["capture_started"] < scan["sender"]["first_frame_posix"] < scan["capture_stopped"]
    window = scan["check"]["window"]
    assert window["tolerance_s"] == 0.25 and window["absent_frames"] == 0
    # to the declared group, which the recorder joined on the lab's data address (lo here)
    assert scan["check"]["payload"] is None and scan["sender"]["transport"]["destination"].startswith("239.10.0.9:")
    stand_in_check = next(c for c in results["preflight"] if c["name"] == "stand-in sender")
    assert stand_in_check["detail"].endswith(f"pattern payload, to {scan['sender']['transport']['destination']}")


def test_a_thread_the_stand_in_never_sends_fails_the_run_naming_it_and_its_frames(tmp_path):
    result = run_pytest(tmp_path, write(tmp_path, "cbf"), "--stand-in-sender", "--stand-in-skip-thread", "1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "scan cbf_001: lost_frames 1000 > 0" in result.stdout
    assert "missing_thread: thread 1 has no frame in the recording: all 1000 of its frames due" in result.stdout
    results = latest_results(tmp_path)
    assert results["verdict"] == "fail" and results["stand_in_sender"] == {"skip_threads": [1]}
    (scan,) = results["scans"]
    assert (scan["frames_sent"], scan["frames_expected"], scan["lost_frames"]) == (3000, 4000, 1000)
    checked = scan["check"]
    (missing,) = [f for f in checked["findings"] if f["kind"] == "missing_thread"]
    assert missing["thread"] == 1 and "all 1000 of its frames due over the stream's span" in missing["detail"]
    # the recorder (udps) filled thread 1's sequence numbers: its slots are invalid frames, each counted once,
    # so what a real CBF's scan would call lost (missing + invalid) is the same 1000
    assert checked["threads"]["1"]["invalid_frames"] + checked["threads"]["1"]["missing_frames"] == 1000
    assert checked["missing_frames"] + checked["invalid_frames"] == 1000


def test_stand_in_options_refused_where_they_cannot_apply(tmp_path):
    scenario = write(tmp_path, "cbf")
    alone = run_pytest(tmp_path, scenario, "--stand-in-skip-thread", "1", "--collect-only")
    assert alone.returncode == 4 and "--stand-in-skip-thread needs --stand-in-sender" in alone.stderr
    wrong = run_pytest(tmp_path, scenario, "--stand-in-sender", "--stand-in-skip-thread", "9", "--collect-only")
    assert wrong.returncode == 2, wrong.stdout
    assert "--stand-in-skip-thread 9: the stream's threads are 0..3" in wrong.stdout


def test_without_the_stand_in_the_harness_sends_nothing(tmp_path):
    """No CBF here: nothing arrives, and the recorder has nothing to say (a scan problem, not a pass)."""
    path = tmp_path / "quiet.yaml"
    path.write_text(external("quiet", port=free_udp_port()))
    result = run_pytest(tmp_path, path)
    assert result.returncode == 1, result.stdout[-3000:]
    results = latest_results(tmp_path)
    (scan,) = results["scans"]
    assert scan["frames_sent"] is None and not scan["stand_in"] and not scan["passed"] and scan["problems"]
    assert "sender" not in results["logs"] and results["stand_in_sender"] is None
