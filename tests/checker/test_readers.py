"""The readers' own findings: vbs chunk numbering and sizes, Mark6 block numbering and headers,
and the threads a scan should hold."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from harness.checker import CheckerError, check, check_mark6, check_scan
from tests.checker.corpus import BLOCK_FRAMES, CHUNK_FRAMES, EXPECT, F, N, clean_items, group, write_mark6, write_vbs


def test_duplicate_chunk_on_two_disks(tmp_path):
    rec = write_vbs(tmp_path, group(clean_items(), CHUNK_FRAMES))
    copy = tmp_path / "disk0" / "corpus_001" / "corpus_001.00000003"
    shutil.copy(rec.chunk_files[3], copy)  # chunk 3 lives on disk1; a second copy on disk0
    result = check_scan("corpus_001", str(tmp_path / "disk*"), EXPECT)
    assert result.counts == {"duplicate_chunk": 1} and result.frame_counts.frames == N
    assert result.findings[0].file == rec.chunk_files[3]
    assert "also at " + str(copy) in result.findings[0].detail


def test_other_files_in_the_scan_folder_are_not_chunks(tmp_path):
    write_vbs(tmp_path, group(clean_items(), CHUNK_FRAMES))
    (tmp_path / "disk0" / "corpus_001" / "corpus_001.0000001").write_bytes(b"x")      # 7 digits
    (tmp_path / "disk0" / "corpus_001" / "corpus_001a.00000001").write_bytes(b"x")    # another scan
    (tmp_path / "disk1" / "corpus_001" / "notes.txt").write_bytes(b"x")
    assert check_scan("corpus_001", str(tmp_path / "disk*"), EXPECT).clean


def test_first_chunk_missing(tmp_path):
    chunks: list[bytes | None] = list(group(clean_items(), CHUNK_FRAMES))
    chunks[0] = None
    result = write_vbs(tmp_path, chunks).check(EXPECT)
    # the recording then starts at chunk 1: only the chunk is missing, no frame before the first is known
    assert result.counts == {"missing_chunk": 1} and result.frame_counts.frames == N - CHUNK_FRAMES


def test_mark6_missing_and_duplicate_blocks(tmp_path):
    blocks = group(clean_items(), BLOCK_FRAMES)
    rec = write_mark6(tmp_path, blocks)
    # rewrite block 2's number as 1 (a duplicate) and so leave number 2 unused
    path, offset, _ = rec.pieces[2]
    data = bytearray(Path(path).read_bytes())
    struct.pack_into("<i", data, offset - 8, 1)
    Path(path).write_bytes(bytes(data))
    result = check_mark6("corpus_mk6", str(tmp_path / "disk*"), EXPECT)
    assert result.counts["duplicate_block"] == 1 and result.counts["missing_block"] == 1
    assert result.frame_counts.missing_frames == BLOCK_FRAMES  # block 2's frames were not read (the first block 1 was)


def test_mark6_truncated_file(tmp_path):
    rec = write_mark6(tmp_path, group(clean_items(), BLOCK_FRAMES))
    path, offset, length = rec.pieces[-1]
    with open(path, "r+b") as handle:
        handle.truncate(offset + length - 3 * F)
    result = check_mark6("corpus_mk6", str(tmp_path / "disk*"), EXPECT)
    assert result.counts == {"block_size": 1} and result.frame_counts.frames == N - 3
    assert "payload bytes announced" in result.findings[0].detail


def test_mark6_header_disagrees_with_the_frames(tmp_path):
    rec = write_mark6(tmp_path, group(clean_items(), BLOCK_FRAMES), disks=1)
    path = rec.pieces[0][0]
    data = bytearray(Path(path).read_bytes())
    struct.pack_into("<i", data, 16, 8032)
    Path(path).write_bytes(bytes(data))
    result = check_mark6("corpus_mk6", str(tmp_path / "disk*"), EXPECT)
    assert result.counts == {"mark6_header": 1}


def test_not_mark6(tmp_path):
    (tmp_path / "disk0").mkdir()
    (tmp_path / "disk0" / "scan").write_bytes(b"\0" * 100)
    with pytest.raises(CheckerError, match="not a Mark6 scatter-gather file"):
        check_mark6("scan", str(tmp_path / "disk*"))


def test_expected_thread_absent_and_an_extra_thread(tmp_path):
    items = [item for i, item in enumerate(clean_items()) if i % 4 != 2]  # thread 2 never sent
    rec = write_vbs(tmp_path, group(items, CHUNK_FRAMES))
    result = rec.check(EXPECT)
    assert result.counts == {"missing_thread": 1} and result.threads[2].frame_counts.frames == 0
    fewer = rec.check(EXPECT.__class__(**{**EXPECT.__dict__, "threads": (0, 1)}))
    assert fewer.counts == {"corrupt_headers": N // 4}  # thread 3 is not one of the stream's
    assert "thread 3 is not one of the stream's [0, 1]" in fewer.findings[0].detail


def test_stream_at_another_rate_than_expected(tmp_path):
    rec = write_vbs(tmp_path, group(clean_items(), CHUNK_FRAMES))
    result = rec.check(EXPECT.__class__(**{**EXPECT.__dict__, "fps": 300}))
    assert result.counts["frame_rate"] == 4
    assert "frame numbers go up to 249" in next(f for f in result.findings if f.kind == "frame_rate").detail


def test_scan_of_many_chunks_keeps_few_files_open(tmp_path):
    import resource
    import subprocess
    import sys

    write_vbs(tmp_path, group(clean_items(), 8))  # 375 chunk files
    limit = 64

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    run = subprocess.run([sys.executable, "-m", "harness.checker", "--scan", "corpus_001", "--disks",
                          str(tmp_path / "disk*"), "--frame-bytes", str(F)], capture_output=True, text=True,
                         timeout=120, preexec_fn=few_descriptors)
    assert run.returncode == 0, run.stderr + run.stdout


def test_recording_of_nothing_but_fill_frames(tmp_path):
    from tests.checker.corpus import fill_frame, write_flat

    rec = write_flat(tmp_path, fill_frame() * 40)
    with pytest.raises(CheckerError, match="give the threads and frame rate"):
        rec.check(EXPECT.__class__())
    result = rec.check(EXPECT)
    assert (result.frame_counts.frames, result.frame_counts.invalid_frames, result.fill_frames) == (40, 40, 40)
    assert result.counts == {"invalid_frames": 40, "missing_thread": 4}


def test_stand_ins_that_can_fill_nothing_are_let_go(tmp_path, monkeypatch):
    from harness.checker import continuity
    from tests.checker.corpus import fill_frame, write_flat

    items = clean_items()
    items[400:400] = [fill_frame()] * 50  # fill frames no gap asks for
    items[2000] = fill_frame()            # and one standing in for frame 1950 of the stream: thread 2's 487th
    monkeypatch.setattr(continuity, "STAND_IN_LIMIT", 8)
    monkeypatch.setattr(check, "WINDOW_BYTES", 100 * F)
    result = write_flat(tmp_path, b"".join(items)).check(EXPECT)
    assert (result.frame_counts.invalid_frames, result.frame_counts.missing_frames) == (51, 0)
    assert result.threads[2].frame_counts.invalid_frames == 1
    assert sum(r.frame_counts.frames for r in result.threads.values()) == N
