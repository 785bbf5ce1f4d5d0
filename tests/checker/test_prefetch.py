"""The read-ahead that keeps a cold disk busy: it reads every segment in order, up to its target only."""

from __future__ import annotations

import os
import time

import pytest

from harness.checker.readers import Prefetcher, Segment, in_page_cache


def test_a_freshly_written_file_is_in_the_page_cache(tmp_path):
    path = tmp_path / "chunk"
    path.write_bytes(os.urandom(1 << 20))
    assert in_page_cache([Segment(str(path), 0, 1 << 20, "file")])
    assert not in_page_cache([Segment(str(tmp_path / "missing"), 0, 10, "file")])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping the page cache needs root")
def test_prefetcher_reads_segments_in_order_up_to_its_target(tmp_path):
    paths = []
    for n in range(3):
        path = tmp_path / f"chunk.{n:08d}"
        path.write_bytes(os.urandom(8 << 20))
        paths.append(path)
    segments = [Segment(str(p), 0, 8 << 20, "chunk") for p in paths]
    for path in paths:  # make the files cold (just these files, not the whole page cache)
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    assert not in_page_cache(segments)
    prefetcher = Prefetcher(segments)
    try:
        prefetcher.advance(12 << 20)  # all of the first chunk, half of the second
        deadline = time.monotonic() + 10
        while not in_page_cache(segments[:1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert in_page_cache(segments[:1])
        time.sleep(0.3)
        assert not in_page_cache(segments[2:]), "read beyond its target"
        prefetcher.advance(24 << 20)
        deadline = time.monotonic() + 10
        while not in_page_cache(segments) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert in_page_cache(segments)
    finally:
        prefetcher.stop()
