"""Where a recording's frames are: ordered segments of memory-mapped files.

A flat file (net2file output) is one segment; a FlexBuff vbs scan is one segment per chunk file
(``<mount>/<scan>/<scan>.NNNNNNNN``, gathered from every mount point matching a glob and ordered
by chunk number); a Mark6 scatter-gather scan is one segment per block (see ``mark6``). Each
segment holds whole frames and is framed on its own. Files are mapped read-only and read in
windows: nothing is copied, and pages already checked are dropped from the mapping, so memory
stays bounded whatever the recording's size.
"""

from __future__ import annotations

import contextlib
import glob
import mmap
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError
from harness.checker.lease import ReadLease
from harness.checker.result import Finding

CHUNK_DIGITS = 8
PAGE = mmap.PAGESIZE
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)
"""Linux >= 5.14: map a window's pages in one call instead of one page fault per few pages."""


class Prefetcher:
    """Reads the recording ahead of the checker, sequentially, as ``cat`` does.

    On cold data the kernel keeps the disk busy only for a reader that reads in order; hints
    (WILLNEED), readahead(2) and page faults on a mapping fell to half of cat's rate on a VM disk.
    This thread ``pread``s each segment in order into a scratch buffer (the GIL released while it
    waits), never more than ``target`` bytes into the recording, so the pages are in the page cache
    by the time the checker maps them. A recording found in the page cache (bytes at its start,
    middle and end readable with RWF_NOWAIT) gets no prefetcher: cached data costs no copy.
    """

    CHUNK = 4 << 20

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.target = 0
        self._done = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def advance(self, end: int) -> None:
        with self._wake:
            if end > self.target:
                self.target = end
                self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        scratch = bytearray(self.CHUNK)
        position = 0
        for segment in self.segments:
            try:
                fd = os.open(segment.path, os.O_RDONLY)
            except OSError:
                position += segment.length  # the checker reports it when its turn comes
                continue
            try:
                offset = 0
                while offset < segment.length:
                    with self._wake:
                        while not self._stopped and position >= self.target:
                            self._wake.wait()
                        if self._stopped:
                            return
                        want = min(self.CHUNK, segment.length - offset, self.target - position)
                    got = os.preadv(fd, [memoryview(scratch)[:want]], segment.start + offset)
                    if got <= 0:
                        break
                    offset += got
                    position += got
                position += segment.length - offset
            except OSError:
                position += segment.length - offset
            finally:
                os.close(fd)


def in_page_cache(segments: list[Segment]) -> bool:
    """Whether the recording looks page-cached: bytes at its start, middle and end can be read without
    waiting for the disk (RWF_NOWAIT). False when that cannot be told."""
    nowait = getattr(os, "RWF_NOWAIT", None)
    if nowait is None or not segments:
        return False
    probes = [(segments[0], 0), (segments[len(segments) // 2], segments[len(segments) // 2].length // 2),
              (segments[-1], max(0, segments[-1].length - 1))]
    scratch = bytearray(1)
    for segment, offset in probes:
        try:
            fd = os.open(segment.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            if os.preadv(fd, [scratch], segment.start + offset, nowait) != 1:
                return False
        except OSError:  # EAGAIN: not cached (or the filesystem cannot tell)
            return False
        finally:
            os.close(fd)
    return True


@dataclass(frozen=True)
class Segment:
    """``length`` bytes of frames at byte ``start`` of ``path``; ``kind`` is file, chunk or block."""

    path: str
    start: int
    length: int
    kind: str
    label: str = ""


class Recording:
    """The ordered segments of one recording over memory-mapped files, and the reader's findings."""

    def __init__(self, source: dict[str, Any], segments: list[Segment], findings: Iterable[Finding] = ()) -> None:
        self.source = source
        self.segments = segments
        self.findings: list[Finding] = list(findings)
        self.starts = np.cumsum([0] + [s.length for s in segments], dtype=np.int64)
        """Logical position of each segment's first byte (the segments laid end to end)."""
        self._maps: dict[str, mmap.mmap] = {}
        self._leases: dict[str, ReadLease] = {}
        """Each mapped file's read lease (lease.py): held back from shrinking while it is read."""
        self._last_use = {segment.path: index for index, segment in enumerate(segments)}
        self._populate = True
        self._prefetcher: Prefetcher | None = None
        self._cached: bool | None = None

    @property
    def total_bytes(self) -> int:
        return int(self.starts[-1])

    def buffer(self, segment: Segment) -> mmap.mmap:
        """The read-only mapping of the segment's file (opened once, sequential read-ahead advised)."""
        mapped = self._maps.get(segment.path)
        if mapped is None:
            lease = None
            try:
                lease = ReadLease(segment.path)
                mapped = mmap.mmap(lease.fd, 0, access=mmap.ACCESS_READ)  # the mapping keeps its own descriptor
            except (OSError, ValueError) as exc:
                if lease is not None:
                    lease.release()
                raise CheckerError(segment.path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
            mapped.madvise(mmap.MADV_SEQUENTIAL)
            self._maps[segment.path] = mapped
            self._leases[segment.path] = lease
        return mapped

    def shrinking(self, segment: Segment) -> str | None:
        """Why the segment's file can no longer be read whole (it is being truncated, or has shrunk below the
        segment's end), or None. Asked between windows: reading a mapping past a file's end is a SIGBUS."""
        lease = self._leases.get(segment.path)
        if lease is None:
            return None
        end = segment.start + segment.length
        try:
            if lease.breaking():
                return f"{segment.path} is being truncated or opened for writing while it is checked"
            size = lease.size()
        except OSError as exc:
            return f"{segment.path} cannot be read any more: {exc.strerror or exc}"
        if size < end:
            return f"{segment.path} shrank to {size} bytes while it was checked (it held {end} when listed)"
        return None

    def abandon(self, segment: Segment) -> None:
        """Stop reading the segment's file now: unmap it and let its lease go (a truncation held back goes on)."""
        mapped = self._maps.pop(segment.path, None)
        if mapped is not None:
            _unmap(mapped)
        lease = self._leases.pop(segment.path, None)
        if lease is not None:
            lease.release()

    def finished(self, index: int) -> None:
        """Segment ``index`` is checked: unmap its file unless a later segment is in it too (Mark6),
        so a scan of ten thousand chunks never holds more than a few files open."""
        path = self.segments[index].path
        if self._last_use.get(path, -1) <= index and path in self._maps:
            _unmap(self._maps.pop(path))
            lease = self._leases.pop(path, None)
            if lease is not None:
                lease.release()

    def read_ahead(self, position: int, nbytes: int) -> None:
        """Have the recording read, in order, up to ``position + nbytes`` (positions over all segments):
        on cold data the disk keeps reading while frames are checked, across chunk and block boundaries."""
        if self._cached is None:
            self._cached = in_page_cache(self.segments)
        if self._cached:
            return
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self.segments)
        self._prefetcher.advance(min(self.total_bytes, position + nbytes))

    def populate(self, segment: Segment, offset: int, length: int) -> None:
        """Map a window before reading it (cheaper than faulting it in page by page)."""
        if self._populate:
            try:
                self._advise(segment, offset, length, MADV_POPULATE_READ)
            except OSError:  # older kernel: page faults will do
                self._populate = False

    def release(self, segment: Segment, offset: int, length: int) -> None:
        """Drop a checked window from this process's mapping (the page cache keeps it)."""
        self._advise(segment, offset, length, mmap.MADV_DONTNEED)

    def _advise(self, segment: Segment, offset: int, length: int, advice: int) -> None:
        mapped = self._maps.get(segment.path)
        if mapped is None or length <= 0:
            return
        begin = segment.start + offset
        aligned = begin - begin % PAGE
        end = min(len(mapped), begin + length)
        if end > aligned:
            mapped.madvise(advice, aligned, end - aligned)

    def locate(self, position: int) -> tuple[str, int]:
        """(file, byte offset in that file) of a logical position."""
        index = int(np.searchsorted(self.starts, position, side="right")) - 1
        index = min(max(index, 0), len(self.segments) - 1)
        segment = self.segments[index]
        return segment.path, segment.start + int(position - self.starts[index])

    def locate_many(self, positions: npt.NDArray[np.int64]) -> tuple[list[str], npt.NDArray[np.int64]]:
        index = np.clip(np.searchsorted(self.starts, positions, side="right") - 1, 0, len(self.segments) - 1)
        starts = np.array([s.start for s in self.segments], dtype=np.int64)
        return [self.segments[i].path for i in index], starts[index] + positions - self.starts[index]

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.stop()
            self._prefetcher = None
        for mapped in self._maps.values():
            _unmap(mapped)
        self._maps.clear()
        for lease in self._leases.values():
            lease.release()
        self._leases.clear()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unmap(mapped: mmap.mmap) -> None:
    # a numpy view still alive (an error unwinding) keeps the mapping; it goes with the view
    with contextlib.suppress(BufferError):
        mapped.close()


def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CheckerError(path, f"cannot read: {exc.strerror}") from None
    if not os.path.isfile(path):
        raise CheckerError(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise CheckerError(path, "cannot read: permission denied")
    return st.st_size


def flat_recording(paths: Iterable[str | os.PathLike[str]]) -> Recording:
    """One or more flat files (net2file output), checked as the consecutive parts of one recording."""
    names = [os.fspath(p) for p in paths]
    if not names:
        raise CheckerError(None, "no file to check")
    segments = []
    for name in names:
        size = _size(name)
        with open(name, "rb") as handle:
            head = handle.read(4)
        if head == b"\x66\x66\xed\xfe":
            raise CheckerError(name, "a Mark6 scatter-gather file: check it with --mark6 NAME --disks GLOB")
        if size:
            segments.append(Segment(name, 0, size, "file"))
    if not segments:
        raise CheckerError(names[0], "empty: no bytes to check")
    return Recording({"kind": "files", "paths": names}, segments)


_CHUNK = re.compile(r"^(?P<scan>.+)\.(?P<number>\d{8})$")


def mount_points(disks: str) -> list[str]:
    """Directories matching the mount-point glob, sorted."""
    found = sorted(p for p in glob.glob(disks) if os.path.isdir(p))
    if not found:
        raise CheckerError(disks, "no mount point matches")
    return found


def vbs_recording(scan: str, disks: str) -> Recording:
    """A FlexBuff vbs scan: chunk files gathered over the mount points, ordered by chunk number.

    A missing chunk number, a number found on two disks and (after framing, see
    ``chunk_size_findings``) a chunk of the wrong size are findings; the first copy of a
    duplicated chunk (in mount-point order) is the one read.
    """
    if not scan or "/" in scan:
        raise CheckerError(scan or None, "not a scan name")
    chunks: list[tuple[int, str, int]] = []
    for mount in mount_points(disks):
        folder = Path(mount) / scan
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _CHUNK.match(entry.name)
            if match and match["scan"] == scan and entry.is_file():
                chunks.append((int(match["number"]), str(entry), _size(str(entry))))
    if not chunks:
        raise CheckerError(f"{disks}/{scan}", f"no chunks of scan {scan!r} on the mount points matching {disks!r}")
    chunks.sort()
    findings: list[Finding] = []
    kept: list[tuple[int, str, int]] = []
    for number, path, size in chunks:
        if kept and kept[-1][0] == number:
            findings.append(Finding("duplicate_chunk", None, path, None, None,
                                    f"chunk {number:08d} also at {kept[-1][1]} ({size} and {kept[-1][2]} bytes); "
                                    "the first is read"))
            continue
        kept.append((number, path, size))
    numbers = {number for number, _, _ in kept}
    for number in range(kept[-1][0] + 1):
        if number not in numbers:
            findings.append(Finding("missing_chunk", None, f"{scan}/{scan}.{number:08d}", None, None,
                                    f"chunk {number:08d} is on no disk"))
    segments = [Segment(path, 0, size, "chunk", f"{number:08d}") for number, path, size in kept]
    source = {"kind": "vbs", "scan": scan, "disks": disks, "chunks": len(kept),
              "mount_points": sorted({str(Path(path).parent.parent) for _, path, _ in kept})}
    return Recording(source, segments, findings)


def chunk_size_findings(recording: Recording, frame_bytes: int) -> list[Finding]:
    """Chunks (or Mark6 blocks) that are not whole frames, or not the size of the others.

    jive5ab writes every chunk of a scan with the same number of whole frames but the last,
    which may be shorter; a partial frame at the very end is reported as a truncated frame.
    """
    segments = recording.segments
    if len(segments) < 2 or segments[0].kind == "file":
        return []
    kind = "chunk_size" if segments[0].kind == "chunk" else "block_size"
    usual = Counter(s.length for s in segments[:-1]).most_common(1)[0][0]
    out = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        whole, extra = divmod(segment.length, frame_bytes)
        problem = ""
        if extra and not last:
            problem = f"{segment.length} bytes is {whole} frames and {extra} bytes, not whole {frame_bytes}-byte frames"
        elif segment.length != usual and (not last or segment.length > usual):
            problem = f"{segment.length} bytes ({whole} frames) where the scan's {segment.kind}s hold {usual} bytes"
        if problem:
            out.append(Finding(kind, segment.start, segment.path, None, None,
                               f"{segment.kind} {segment.label}: {problem}"))
    return out
