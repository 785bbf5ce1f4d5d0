"""Real jive5ab 3.1.0 recordings (tests/data/jive5ab, see its README): the checker must report
exactly what the README says jive5ab was sent and wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checker import Expectation, check_files, check_mark6, check_scan
from harness.formats.vdif.timecode import epoch_start, iso
from harness.frame_counts import FrameCounts

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "jive5ab"
DISKS = str(SAMPLES / "disk*")
FRAME = 1032
EPOCH = epoch_start(53)


def second(s: int, frame: int = 0, fps: int = 250) -> str:
    return iso(EPOCH + s + frame / fps)


def test_samples_are_in_the_repository():
    # tests must not depend on /work/shared at run time
    assert (SAMPLES / "README.md").is_file()
    assert (SAMPLES / "disk1" / "mk_clean" / "mk_clean.00000000").stat().st_size == 1016 * FRAME


@pytest.mark.parametrize("expect", [Expectation(), Expectation(frame_bytes=FRAME, threads=(0, 1, 2, 3), fps=250,
                                                                station="MK", bits=2, nchan=1, edv=0)],
                         ids=["inferred", "told"])
def test_clean_vbs_scan(expect):
    result = check_scan("mk_clean", DISKS, expect)
    assert result.clean, result.findings
    assert result.frame_counts == FrameCounts(frames=2000)
    assert result.source["chunks"] == 2
    assert (result.frame_bytes, result.frame_rate, result.station) == (FRAME, 250, "MK")
    assert sorted(result.threads) == [0, 1, 2, 3]
    assert all(r.frame_counts.frames == 500 and r.frame_rate == 250 for r in result.threads.values())
    assert result.start_time == second(12394851) and result.end_time == second(12394852, 249)


def test_vbs_scan_with_fill_frames():
    result = check_scan("mk_lossy", DISKS, Expectation(frame_bytes=FRAME, threads=(0, 1, 2, 3), fps=250))
    # 2000 frames; file-order frames 100, 101, 102, 500 and 1500 are jive5ab's fill frames for the
    # datagrams never sent (sequence numbers = file order: frame k of thread t is datagram 4k + t)
    assert result.frame_counts == FrameCounts(frames=2000, invalid_frames=5) and result.fill_frames == 5
    assert result.frame_counts.valid_frames == 1995
    assert result.counts == {"invalid_frames": 5}
    chunk0 = str(SAMPLES / "disk0" / "mk_lossy" / "mk_lossy.00000000")
    chunk1 = str(SAMPLES / "disk1" / "mk_lossy" / "mk_lossy.00000001")
    found = [(f.file, f.offset, f.thread, f.time) for f in result.findings]
    first_second = 12394858
    assert found == [
        (chunk0, 100 * FRAME, 0, second(first_second, 25)),
        (chunk0, 101 * FRAME, 1, second(first_second, 25)),
        (chunk0, 102 * FRAME, 2, second(first_second, 25)),
        (chunk0, 500 * FRAME, 0, second(first_second, 125)),
        (chunk1, (1500 - 1016) * FRAME, 0, second(first_second + 1, 125)),
    ]
    assert {t: r.frame_counts.invalid_frames for t, r in result.threads.items()} == {0: 3, 1: 1, 2: 1, 3: 0}


def test_net2file_with_its_tail_loss():
    path = SAMPLES / "n2f_pudp.vdif"
    result = check_files([path])
    assert result.clean and result.frame_counts.frames == 254 and result.frame_rate == 100
    assert result.start_time == second(12394865, fps=100) and result.end_time == second(12394867, 53, fps=100)
    # told what was sent, the checker shows jive5ab's net2file tail loss: 46 frames never written
    told = check_files([path], Expectation(expected_frames=300))
    assert told.counts == {"frame_count": 1}
    assert told.findings[0].detail == "254 frames where 300 were expected (46 fewer)"


def test_mark6_scatter_gather_scan():
    result = check_mark6("mk_mk6", DISKS)
    assert result.clean, result.findings
    assert (result.frame_counts.frames, result.frame_counts.valid_frames) == (1000, 1000)
    assert result.source["blocks"] == 1 and result.source["packet_size"] == FRAME
    assert sorted(result.threads) == [0, 1]
    assert result.start_time == second(12394874)
