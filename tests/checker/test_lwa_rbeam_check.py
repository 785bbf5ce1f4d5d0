"""The checker on LWA RBeam: framing without a sync word, each server a thread, times from the sequence
clock, the constant fields against the expected, refusals, and ``vdif-check --format lwa_rbeam``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from harness.checker import Expectation, check_files
from harness.checker.errors import CheckerError
from tests.checker.lwa_rbeam_corpus import CHAN0, EXPECT, NCHAN, F, clean_list, clean_packets, render

ROOT = Path(__file__).resolve().parents[2]
CLEAN = clean_packets()


def unix(iso: str | None) -> float:
    assert iso is not None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "rec.rbeam"
    path.write_bytes(data)
    return path


def test_a_clean_stream_is_clean_and_its_times_are_the_sequence_clocks(tmp_path):
    path = write(tmp_path, CLEAN.tobytes())
    for expect in (EXPECT, Expectation(format="lwa_rbeam", payload="pattern")):  # declared, and all inferred
        result = check_files([path], expect)
        assert result.clean, result.findings
        assert result.frame_counts.frames == 900 and list(result.threads) == [1, 2, 3]
        # step 0 is 150 steps (150 x 8192/196e6 s = 6.269 ms) before 2026-07-01T00:00:00Z, step 299 149 after
        assert unix(result.threads[2].first_time) == pytest.approx(1782864000 - 150 * 8192 / 196e6, abs=2e-6)
        assert unix(result.threads[2].last_time) == pytest.approx(1782864000 + 149 * 8192 / 196e6, abs=2e-6)
        assert result.duration_s == pytest.approx(300 * 8192 / 196e6)


def test_wrong_fields_are_named_and_an_unknown_server_is_not_placed(tmp_path):
    rows = CLEAN.copy()
    rows[10, 6:8] = np.frombuffer((CHAN0 + 8).to_bytes(2, "big"), dtype=np.uint8)
    rows[20, 0] = 9  # server 9
    rows[30, 5] = 2  # nserver 2
    result = check_files([write(tmp_path, rows.tobytes())], EXPECT)
    details = [f.detail for f in result.findings if f.kind == "corrupt_headers"]
    assert details[0].startswith("chan0 1242, the stream's is 1234")
    assert details[1].startswith("server 9 is not one of the stream's [1, 2, 3]")
    assert details[2].startswith("nserver 2, the stream's is 1")
    c = result.frame_counts
    assert (c.corrupt_headers, c.missing_frames, c.payload_errors) == (3, 0, 0)  # server 9 stands in for its slot


def test_a_different_expected_packet_size_is_every_packet(tmp_path):
    result = check_files([write(tmp_path, CLEAN.tobytes())], Expectation(format="lwa_rbeam", nchan=NCHAN // 2,
                                                                           payload="pattern"))
    assert result.frame_counts.corrupt_headers == result.frame_counts.frames  # 32-byte framing of 48-byte packets
    assert not result.clean


def test_what_lwa_rbeam_does_not_have_is_refused(tmp_path):
    path = write(tmp_path, CLEAN.tobytes())
    with pytest.raises(CheckerError, match="fps, bits: not for an LWA RBeam stream"):
        check_files([path], Expectation(format="lwa_rbeam", fps=100, bits=2))
    with pytest.raises(CheckerError, match=r"header values \['station'\]"):
        check_files([path], Expectation(format="lwa_rbeam", header_values=(("station", 1),)))
    with pytest.raises(CheckerError, match="capture windows and schedules"):
        check_files([path], Expectation(format="lwa_rbeam", window_start=0.0, window_end=1.0))
    with pytest.raises(CheckerError, match="the one after it does not agree"):
        rows = CLEAN.copy()
        rows[1, 2:4] = [0, 9]
        check_files([write(tmp_path, rows.tobytes())], Expectation(format="lwa_rbeam"))


def test_vdif_check_format_lwa_rbeam_on_the_command_line(tmp_path):
    written = clean_list()
    del written[100]
    path = write(tmp_path, render(written, CLEAN))
    run = subprocess.run([sys.executable, "-m", "harness.checker", "--format", "lwa_rbeam", "--payload", "pattern",
                          "--threads", "1-3", "--nchan", str(NCHAN), "--header-value", f"chan0={CHAN0}",
                          "--header-value", "nbeam=1", "--json", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["frames"] == 899 and doc["counts"] == {"missing_frames": 1} and doc["frame_bytes"] == F
    bad = subprocess.run([sys.executable, "-m", "harness.checker", "--format", "lwa_rbeam", "--header-value",
                          "chan0", str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "is not FIELD=NUMBER" in bad.stderr
