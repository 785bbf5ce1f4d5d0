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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError
from harness.checker.result import Finding

CHUNK_DIGITS = 8
PAGE = mmap.PAGESIZE
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)
"""Linux >= 5.14: map a window's pages in one call instead of one page fault per few pages."""


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
        self._last_use = {segment.path: index for index, segment in enumerate(segments)}
        self._populate = True
        self._ahead = 0

    @property
    def total_bytes(self) -> int:
        return int(self.starts[-1])

    def buffer(self, segment: Segment) -> mmap.mmap:
        """The read-only mapping of the segment's file (opened once, sequential read-ahead advised)."""
        mapped = self._maps.get(segment.path)
        if mapped is None:
            try:
                with open(segment.path, "rb") as handle:  # the mapping keeps its own descriptor
                    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise CheckerError(segment.path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
            mapped.madvise(mmap.MADV_SEQUENTIAL)
            self._maps[segment.path] = mapped
        return mapped

    def finished(self, index: int) -> None:
        """Segment ``index`` is checked: unmap its file unless a later segment is in it too (Mark6),
        so a scan of ten thousand chunks never holds more than a few files open."""
        path = self.segments[index].path
        if self._last_use.get(path, -1) <= index and path in self._maps:
            _unmap(self._maps.pop(path))

    def read_ahead(self, position: int, nbytes: int) -> None:
        """Have the kernel read the recording up to ``position + nbytes`` (positions over all segments),
        beyond what it was asked already: on cold data the disk keeps reading while frames are checked,
        across chunk and block boundaries."""
        end = min(self.total_bytes, position + nbytes)
        start = max(self._ahead, position)
        index = int(np.searchsorted(self.starts, start, side="right")) - 1
        while start < end and 0 <= index < len(self.segments):
            segment_end = int(self.starts[index + 1])
            offset = start - int(self.starts[index])
            length = min(end, segment_end) - start
            self._advise_file(self.segments[index], offset, length)
            start += length
            index += 1
        self._ahead = max(self._ahead, end)

    def _advise_file(self, segment: Segment, offset: int, length: int) -> None:
        """WILLNEED through a descriptor opened just for it: no mapping, no descriptor left open."""
        try:
            fd = os.open(segment.path, os.O_RDONLY)
        except OSError:
            return  # it will fail with its reason when its turn comes
        try:
            os.posix_fadvise(fd, segment.start + offset, length, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

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
        for mapped in self._maps.values():
            _unmap(mapped)
        self._maps.clear()

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
