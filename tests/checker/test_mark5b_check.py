"""The checker on Mark5B: its own header checks (sync word, BCD, CRC, frame numbers, fraction, fill frames)
counted exactly through the shared continuity and integrity layers, and ``vdif-check --format mark5b``."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from harness.checker import CheckResult, Expectation, check_files
from harness.checker.errors import CheckerError
from harness.formats.mark5b.header import FRAME_BYTES, pack_headers
from harness.formats.mark5b.stream import Mark5bGenerator, Mark5bStreamSpec
from harness.formats.vdif.header import station_id

ROOT = Path(__file__).resolve().parents[2]
START = Fraction(1782864000 + 12394851)
FPS = 100
EXPECT = Expectation(format="mark5b", payload="pattern", fps=FPS, station="MK")


def frames(fps: int = FPS, count: int = 3 * FPS, first: int = 0) -> npt.NDArray[np.uint8]:
    return Mark5bGenerator(Mark5bStreamSpec(fps=fps, user=station_id("MK")), START).batch(first, count).copy()


def check(tmp_path: Path, rows: npt.NDArray[np.uint8] | bytes, expect: Expectation = EXPECT) -> CheckResult:
    path = tmp_path / "rec.m5b"
    path.write_bytes(rows if isinstance(rows, bytes) else rows.tobytes())
    return check_files([path], expect)


def counts(result: CheckResult) -> dict[str, int]:
    return {k: v for k, v in result.counts.items() if v}


def test_a_clean_stream_is_clean_and_its_times_are_the_frames(tmp_path):
    for expect in (EXPECT, Expectation(format="mark5b", payload="pattern")):  # declared, and all inferred
        result = check(tmp_path, frames(), expect)
        assert result.clean, result.findings
        assert result.frame_counts.frames == 300 and list(result.threads) == [0]
        report = result.threads[0]
        assert report.frame_rate == FPS
        assert report.first_time == "2026-11-21T11:00:51.000000Z"
        assert report.last_time == "2026-11-21T11:00:53.990000Z"


def set_header(rows: npt.NDArray[np.uint8], i: int, **values: int) -> None:
    """Rewrite frame i's header with some fields changed (the CRC recomputed unless given)."""
    from harness.formats.mark5b.header import unpack_headers

    fields = unpack_headers(rows[i : i + 1, :16].copy().view("<u4"))
    keep = {k: int(fields[k][0]) for k in ("user", "tvg", "frame_nr", "bcd_jday", "bcd_seconds", "bcd_fraction")}
    keep.update(values)
    rows[i, :16] = pack_headers(keep, 1).astype("<u4").view(np.uint8).reshape(16)


def test_each_header_check_counts_its_frame_once(tmp_path):
    rows = frames()
    rows[10, 0] ^= 0x01  # sync word
    set_header(rows, 20, bcd_seconds=0x3965A)  # a digit above 9 (CRC recomputed over it: only the BCD is wrong)
    rows[30, 12] ^= 0x01  # CRC
    set_header(rows, 40, bcd_fraction=0x0123)  # fraction .0123 for frame 40 (.4000): disagrees
    set_header(rows, 50, bcd_fraction=0)  # a zero fraction is allowed (DBEs)
    rows[60, 5000] ^= 0x10  # payload
    result = check(tmp_path, rows)
    assert counts(result) == {"corrupt_headers": 4, "payload_errors": 1}
    c = result.frame_counts
    assert (c.frames, c.missing_frames, c.corrupt_headers, c.payload_errors) == (300, 0, 4, 1)
    details = [f.detail for f in result.findings if f.kind == "corrupt_headers"]
    assert details[0].startswith("sync word 0xabaddeec, not 0xabaddeed; in place of thread 0's frame of")
    assert "has a digit that is not decimal" in details[1]
    assert details[2].startswith("CRC 0x")
    assert details[3] == "BCD fraction .0123 s, frame 40 of 100/s starts at .4000 s"
    assert [f.offset for f in result.findings if f.kind == "corrupt_headers"] == [i * FRAME_BYTES for i in
                                                                                  (10, 20, 30, 40)]


def test_lost_duplicate_and_swapped_frames_across_a_second_boundary(tmp_path):
    rows = frames()
    order = list(range(300))
    order.remove(100)  # frame 0 of the second second: lost
    order.insert(order.index(150), 150)  # frame 150 twice
    i = order.index(199)
    order[i], order[i + 1] = order[i + 1], order[i]  # 199 and 200 swapped over the boundary
    result = check(tmp_path, rows[order])
    c = result.frame_counts
    assert (c.missing_frames, c.duplicate_frames, c.out_of_order_frames, c.corrupt_headers) == (1, 1, 1, 0)


def test_jive5ab_fill_frames_are_invalid_not_corrupt(tmp_path):
    rows = frames()
    rows[[70, 71, 150]] = np.frombuffer(b"\x44\x33\x22\x11" * (FRAME_BYTES // 4), dtype=np.uint8)
    result = check(tmp_path, rows)
    c = result.frame_counts
    assert (c.frames, c.invalid_frames, c.missing_frames, c.corrupt_headers, c.payload_errors) == (300, 3, 0, 0, 0)
    fill = [f for f in result.findings if f.kind == "invalid_frames"]
    assert [f.offset for f in fill] == [70 * FRAME_BYTES, 71 * FRAME_BYTES, 150 * FRAME_BYTES]
    assert all(f.detail.startswith("jive5ab fill frame") for f in fill)


def test_frames_numbers_at_or_above_the_rate_and_the_wrong_station(tmp_path):
    rows = frames()
    set_header(rows, 5, frame_nr=100)
    set_header(rows, 6, user=station_id("Ef"))
    result = check(tmp_path, rows)
    details = [f.detail for f in result.findings if f.kind == "corrupt_headers"]
    assert result.frame_counts.corrupt_headers == 2 and result.frame_counts.missing_frames == 0
    assert details[0].startswith("frame number 100 is not below the frame rate 100")
    assert details[1] == "station 'Ef' (user bits 0x4566), the thread's is 'MK' (user bits 0x4d4b)"


def test_the_15_bit_wrap_at_4_gbps_is_no_gap(tmp_path):
    """Frames 32700-32899 of a second at 51200 frames/s: the field wraps at 32768, the fraction carries on."""
    rows = frames(fps=51200, count=200, first=32700)
    result = check(tmp_path, rows, Expectation(format="mark5b", payload="pattern", fps=51200))
    assert result.clean, result.findings
    assert result.frame_counts.frames == 200
    with pytest.raises(CheckerError, match="give the frame rate"):
        check(tmp_path, rows, Expectation(format="mark5b", payload="pattern"))


def test_a_truncated_last_frame_and_stray_bytes(tmp_path):
    rows = frames()
    data = rows[:150].tobytes() + b"\x00" * 1000 + rows[150:].tobytes()[:-5000]
    result = check(tmp_path, data)
    assert result.counts["stray_bytes"] == 1 and result.counts["truncated_frame"] == 1
    assert result.frame_counts.frames == 299 and result.frame_counts.missing_frames == 0


def test_refusals(tmp_path):
    with pytest.raises(CheckerError, match="'mark4' is not known"):
        Expectation(format="mark4")
    with pytest.raises(CheckerError, match="10000 bytes, not 8000"):
        Expectation(format="mark5b", frame_bytes=8016)
    with pytest.raises(CheckerError, match="threads, bits: not for a Mark5B stream"):
        check(tmp_path, frames(), Expectation(format="mark5b", threads=(0, 1), bits=2))
    with pytest.raises(CheckerError, match="sample statistics of Mark5B"):
        check(tmp_path, frames(), Expectation(format="mark5b", statistics=True))


def test_the_checker_reads_every_format_of_the_table():
    from harness.checker.headers import READINGS
    from harness.formats.registry import FORMATS

    assert set(READINGS) == set(FORMATS)


def test_vdif_check_format_mark5b_on_the_command_line(tmp_path):
    rows = frames()
    path = tmp_path / "rec.m5b"
    rows.tofile(path)
    run = subprocess.run([sys.executable, "-m", "harness.checker", "--format", "mark5b", "--payload", "pattern",
                          "--json", str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["frames"] == 300 and doc["counts"] == {} and doc["threads"]["0"]["frame_rate"] == FPS
    vdif = subprocess.run([sys.executable, "-m", "harness.checker", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert vdif.returncode == 2 and "no valid VDIF frame" in vdif.stderr  # vdif stays the default
