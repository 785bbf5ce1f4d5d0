"""``vdif-check``: exit 0 when clean, 1 with findings, 2 for unreadable input or bad usage
(one line on stderr, no traceback); ``--json`` gives the documented fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checker.corpus import F, N, clean_items, write

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "jive5ab"
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = ("frames", "valid_frames", "invalid_frames", "missing_frames", "duplicate_frames", "out_of_order_frames",
              "corrupt_headers", "payload_errors", "stray_bytes", "bytes", "start_time", "end_time", "threads",
              "findings", "counts")


def vdif_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.checker", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_clean_scan_exits_0_with_the_documented_json():
    run = vdif_check("--json", "--scan", "mk_clean", "--disks", str(SAMPLES / "disk*"))
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert all(name in doc for name in DOCUMENTED)
    assert doc["frames"] == 2000 and doc["findings"] == [] and doc["counts"] == {}
    assert set(doc["threads"]) == {"0", "1", "2", "3"}
    assert {"frames", "missing_frames", "first_time", "last_time", "frame_rate"} <= set(doc["threads"]["0"])


def test_findings_exit_1_and_are_listed(tmp_path):
    items = clean_items()
    del items[1001]
    path = write("flat", tmp_path, items).pieces[0][0]
    run = vdif_check("--json", "--payload", "pattern", "--threads", "0-3", "--fps", "250", path)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["missing_frames"] == 1 and doc["counts"] == {"missing_frames": 1}
    assert doc["findings"] == [{"kind": "missing_frames", "offset": 1004 * F, "file": path, "thread": 1,
                                "time": doc["findings"][0]["time"], "detail": doc["findings"][0]["detail"]}]
    text = vdif_check("--payload", "pattern", path)
    assert text.returncode == 1 and "missing_frames" in text.stdout and "thread 1" in text.stdout


def test_mark6_and_several_scans_at_once():
    run = vdif_check("--json", "--mark6", "mk_mk6", "--disks", str(SAMPLES / "disk*"))
    assert run.returncode == 0 and json.loads(run.stdout)["frames"] == 1000
    both = vdif_check("--json", "--scan", "mk_clean", "--scan", "mk_lossy", "--disks", str(SAMPLES / "disk*"),
                      "--jobs", "2")
    assert both.returncode == 1
    docs = json.loads(both.stdout)["recordings"]
    assert [d["source"]["scan"] for d in docs] == ["mk_clean", "mk_lossy"]
    assert [d["invalid_frames"] for d in docs] == [0, 5]


@pytest.mark.parametrize(("args", "reason"), [
    (["/no/such/file.vdif"], "/no/such/file.vdif: cannot read: No such file or directory"),
    ([str(SAMPLES / "README.md")], "no VDIF frames found"),
    ([str(SAMPLES / "disk0" / "mk_mk6")], "a Mark6 scatter-gather file: check it with --mark6"),
    (["--scan", "mk_clean"], "--scan and --mark6 need --disks"),
    (["--scan", "nope", "--disks", str(SAMPLES / "disk*")], "no chunks of scan 'nope'"),
    (["--scan", "mk_clean", "--disks", "/no/such/disk*"], "no mount point matches"),
    (["--mark6", "mk_clean", "--disks", str(SAMPLES / "disk*")], "no Mark6 file of scan"),
    (["--mark6", "n2f_pudp.vdif", "--disks", str(SAMPLES)], "not a Mark6 scatter-gather file"),
    ([], "nothing to check"),
    (["--payload", "tone", str(SAMPLES / "n2f_pudp.vdif")], "needs the tone frequency"),
    (["--frame-bytes", "1001", str(SAMPLES / "n2f_pudp.vdif")], "not a multiple of 8"),
    (["--station", "XYZ", str(SAMPLES / "n2f_pudp.vdif")], "neither two ASCII characters"),
    (["--frobnicate"], "unrecognized arguments"),
    (["--threads", "x"], "are not ids like 0,1,2,3"),
    (["--window-start", "soon", str(SAMPLES / "n2f_pudp.vdif")], "'soon' is neither POSIX seconds nor an ISO"),
    (["--window-start", "0", str(SAMPLES / "n2f_pudp.vdif")], "needs both its start and its end"),
])
def test_refusals_are_one_line_exit_2(args, reason):
    run = vdif_check(*args)
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and "Traceback" not in run.stderr
    assert lines[0].startswith("vdif-check: ")


def test_empty_file(tmp_path):
    (tmp_path / "empty.vdif").write_bytes(b"")
    run = vdif_check(str(tmp_path / "empty.vdif"))
    assert run.returncode == 2 and "empty" in run.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "vdif-check"
    run = subprocess.run([str(script), "--json", str(SAMPLES / "n2f_pudp.vdif")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and json.loads(run.stdout)["frames"] == 254


def test_clean_corpus_recordings_exit_0(tmp_path):
    rec = write("vbs", tmp_path, clean_items())
    run = vdif_check("--json", "--scan", "corpus_001", "--disks", str(tmp_path / "disk*"), "--payload", "pattern",
                     "--threads", "0,1,2,3", "--fps", "250", "--frame-bytes", str(F), "--station", "MK")
    assert run.returncode == 0, run.stdout
    assert json.loads(run.stdout)["frames"] == N and rec.chunk_files


def test_a_capture_window_given_as_iso_times(tmp_path):
    from harness.formats.vdif.timecode import iso
    from tests.checker.corpus import START

    path = write("flat", tmp_path, clean_items()).pieces[0][0]
    run = vdif_check("--json", "--window-start", iso(float(START) - 1), "--window-end", str(float(START) + 3.25),
                     "--window-tolerance", "0.25", path)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    # due from 0.75 s before the first frame: 187.5 frame periods, so frames -187 .. -1 of each thread
    assert doc["counts"] == {"stream_starts_late": 1} and doc["missing_frames"] == 4 * 187
    assert doc["window"]["due_from"] == iso(float(START) - 0.75) and doc["window"]["absent_at_start"] == 187
