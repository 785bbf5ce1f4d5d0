"""What the stream is: frame size, header kind, rate, threads and each thread's invariants.

Taken from the expectation where it says, otherwise inferred from the start of the recording:
the first place where three frames chain (frame size, legacy bit), the version and reference
epoch most valid frames carry, and - from up to a few seconds of headers - the EDV, the threads,
each thread's station / channels / bits / complex flag (the most common value, so one damaged
header cannot set them) and the frame rate (the highest frame number of a complete second).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.framing import (
    Run,
    SyncRef,
    check_frame_bytes,
    find_first_frame,
    frame_runs,
    header_words,
    stream_constants,
)
from harness.checker.readers import Recording
from harness.formats.vdif.header import unpack_headers
from harness.formats.vdif.timecode import epoch_start

PREPASS_MIN_FRAMES = 4096
PREPASS_MAX_FRAMES = 1 << 21
MINOR_THREAD_SHARE = 0.01
"""A thread id seen in fewer than 1 % of the frames of the most common thread at the start is a damaged header."""


@dataclass(frozen=True)
class StreamShape:
    """The stream's invariants; per-thread tuples are indexed by thread rank (position in ``threads``)."""

    sync: SyncRef
    edv: int | None
    fps: int
    fps_source: str
    threads: tuple[int, ...]
    station: tuple[int, ...]
    lg2_nchan: tuple[int, ...]
    bits_m1: tuple[int, ...]
    complex: tuple[int, ...]
    ref_second: int
    """A second near the start; header times more than a day from it are damaged."""
    declared_frame_bytes: int | None = None
    declared_legacy: int | None = None
    """The frame size / legacy bit the expectation declared, where the recording has none such: it is then
    checked at what it holds, and every frame is a finding (rule ``declared framing``)."""
    time_origin: int | None = None
    """POSIX time of the headers' second zero where no VDIF reference epoch says it (Mark5B: its kilo-day's)."""
    constants: tuple[tuple[str, int], ...] = ()
    """Header fields every frame of the stream holds, (name, value), for formats whose rules check them so."""
    second_seconds: int = 1
    """Seconds of time per header "second" (LWA RBeam: a 32-s cycle of its sequence clock, 765 625 steps)."""

    @property
    def frame_bytes(self) -> int:
        return self.sync.frame_bytes

    @property
    def header_bytes(self) -> int:
        return self.sync.header_bytes

    @property
    def payload_bytes(self) -> int:
        return self.sync.frame_bytes - self.sync.header_bytes

    @property
    def ref_epoch(self) -> int:
        return self.sync.ref_epoch or 0

    @property
    def epoch_unix(self) -> int:
        if self.time_origin is not None:
            return self.time_origin
        return epoch_start(self.ref_epoch)

    def rank_table(self) -> npt.NDArray[np.int64]:
        """Thread id -> rank (or -1) for all 1024 ids."""
        table = np.full(1024, -1, dtype=np.int64)
        table[list(self.threads)] = np.arange(len(self.threads))
        return table


def find_sync(recording: Recording, expect: Expectation) -> SyncRef:
    """Frame size, legacy bit, version and reference epoch from the first frames of the recording.

    Frames of the declared size and header kind first; where there are none, whatever frames there are (a
    stream other than declared is a finding for each frame, not a reason to check nothing)."""
    legacy = None if expect.legacy is None else int(expect.legacy)
    found = _sync(recording, expect.frame_bytes, legacy)
    if found is None and (expect.frame_bytes or legacy is not None):
        found = _sync(recording, None, None)
    if found is None:
        raise CheckerError(recording.segments[0].path, "no VDIF frames found (no three frame headers chain)")
    return found


def _sync(recording: Recording, frame_bytes: int | None, legacy: int | None) -> SyncRef | None:
    for index, segment in enumerate(recording.segments):
        buffer = recording.buffer(segment)
        # almost always the first frame starts the segment: try that before searching a megabyte
        found = (find_first_frame(buffer, segment.start, segment.length, frame_bytes, legacy, span=12)
                 or find_first_frame(buffer, segment.start, segment.length, frame_bytes, legacy))
        if found is None:
            del buffer
            recording.finished(index)
            continue
        first, size, legacy_bit = found
        check_frame_bytes(size, segment.path)
        constants = None
        for at, later in enumerate(recording.segments[index:], start=index):
            start = first if later is segment else 0
            constants = stream_constants(recording.buffer(later), later.start, later.length, start, size)
            if at > index:
                recording.finished(at)
            if constants is not None:
                break
        version, ref_epoch = constants if constants is not None else (None, None)
        return SyncRef(size, legacy_bit, version, ref_epoch)
    return None


def declared_framing(sync: SyncRef, expect: Expectation) -> tuple[int | None, int | None]:
    """(declared frame size, declared legacy bit) where they differ from the recording's, else None each."""
    size = expect.frame_bytes if expect.frame_bytes and expect.frame_bytes != sync.frame_bytes else None
    legacy = None if expect.legacy is None or int(expect.legacy) == sync.legacy else int(expect.legacy)
    return size, legacy


def _mode(values: npt.NDArray[np.int64]) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def infer_fps(seconds: npt.NDArray[np.int64], frame_nr: npt.NDArray[np.int64],
              thread: npt.NDArray[np.int64]) -> tuple[int, str]:
    """Frame rate per thread from frame numbers, and how sure: ``inferred`` or ``lower bound``.

    Per (thread, second) the highest frame number plus one, over complete seconds (neither the
    first nor the last seen) when there are any; the most common value across threads wins.
    """
    distinct = np.unique(seconds)
    if len(distinct) >= 3:
        keep = (seconds > distinct[0]) & (seconds < distinct[-1])
        source = "inferred"
    elif len(distinct) == 2:
        keep = np.ones(len(seconds), dtype=bool)
        source = "inferred"
    else:
        keep = np.ones(len(seconds), dtype=bool)
        source = "lower bound (no second boundary seen)"
    group = (thread[keep] << 40) | (seconds[keep] - distinct[0])
    order = np.lexsort((frame_nr[keep], group))
    g, f = group[order], frame_nr[keep][order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    if len(distinct) >= 3:
        # in a complete second the frame numbers are dense (0 .. rate-1, some lost): a damaged one far
        # above twice their count must not set the rate
        counts = np.diff(np.r_[starts, len(g)])
        f = np.where(f < 2 * np.repeat(counts, counts), f, -1)
    tops = np.maximum.reduceat(f, starts) + 1
    tops = tops[tops > 0]
    if len(distinct) >= 3:
        return _mode(tops), source
    return int(tops.max()), source  # partial seconds: the highest frame number seen is the best bound


def infer_shape(recording: Recording, sync: SyncRef, expect: Expectation, window: int) -> StreamShape:
    """Read headers from the start (a few seconds at most) and settle the stream's invariants."""
    nwords = sync.header_words
    collected: list[npt.NDArray[np.uint32]] = []
    total = 0
    seconds_seen: set[int] = set()
    done = False
    for index, segment in enumerate(recording.segments):
        buffer = recording.buffer(segment)
        for piece in frame_runs(buffer, segment.start, segment.length, sync, window):
            if not isinstance(piece, Run):
                continue
            words = np.array(header_words(buffer, segment.start + piece.start, piece.count, sync.frame_bytes, nwords))
            keep = (words[:, 0] >> np.uint32(31)) == 0
            if piece.damaged is not None:
                keep &= ~piece.damaged
            words = words[keep]
            collected.append(words)
            total += len(words)
            seconds_seen.update(np.unique(words[:, 0] & np.uint32(0x3FFFFFFF)).tolist()[:8])
            enough_rate = expect.fps is not None or len(seconds_seen) >= 3
            if (total >= PREPASS_MIN_FRAMES and enough_rate) or total >= PREPASS_MAX_FRAMES:
                done = True
                break
        del buffer
        recording.finished(index)  # a scan of many small chunks must not keep them all open
        if done:
            break
    if not total:
        if expect.threads is None or expect.fps is None:
            raise CheckerError(recording.segments[0].path, "no valid VDIF frame (every frame is invalid or damaged); "
                               "give the threads and frame rate to count them anyway")
        return _shape_from_expectation(sync, expect)
    words = np.concatenate(collected)
    legacy = bool(sync.legacy)
    if legacy:
        edv = None
    elif isinstance(expect.edv, int):
        edv = expect.edv
    else:
        edv = _mode((words[:, 4] >> np.uint32(24)).astype(np.int64))
    fields = unpack_headers(words, None)
    seconds, frame_nr, thread = fields["seconds"], fields["frame_nr"], fields["thread_id"]
    ref_second = int(np.median(seconds))
    near = np.abs(seconds - ref_second) <= 86400
    seconds, frame_nr, thread = seconds[near], frame_nr[near], thread[near]
    if expect.threads is not None:
        threads = tuple(expect.threads)
    else:
        ids, counts = np.unique(thread, return_counts=True)
        threads = tuple(int(t) for t in ids[counts >= max(1, MINOR_THREAD_SHARE * counts.max())])
    if expect.fps is not None:
        fps, fps_source = expect.fps, "expected"
    else:
        fps, fps_source = infer_fps(seconds.astype(np.int64), frame_nr.astype(np.int64), thread.astype(np.int64))
    per_thread = {}
    for name, expected in (("station", expect.station), ("lg2_nchan", None if expect.nchan is None
                           else int(expect.nchan).bit_length() - 1), ("bits_m1", None if expect.bits is None
                           else expect.bits - 1), ("complex", None if expect.complex is None else int(expect.complex))):
        column = fields[name][near].astype(np.int64)
        overall = _mode(column)
        values = []
        for t in threads:
            if expected is not None:
                values.append(int(expected))
                continue
            mine = column[thread == t]
            values.append(_mode(mine) if len(mine) else overall)
        per_thread[name] = tuple(values)
    declared_size, declared_legacy = declared_framing(sync, expect)
    return StreamShape(sync=sync, edv=edv, fps=fps, fps_source=fps_source, threads=threads,
                       station=per_thread["station"], lg2_nchan=per_thread["lg2_nchan"],
                       bits_m1=per_thread["bits_m1"], complex=per_thread["complex"], ref_second=ref_second,
                       declared_frame_bytes=declared_size, declared_legacy=declared_legacy)


def _shape_from_expectation(sync: SyncRef, expect: Expectation) -> StreamShape:
    """The shape when no frame is valid (all fill frames): only what the expectation says."""
    threads = tuple(expect.threads or ())
    n = len(threads)
    station = int(expect.station) if isinstance(expect.station, int) else 0
    declared_size, declared_legacy = declared_framing(sync, expect)
    return StreamShape(sync=sync, edv=None if sync.legacy else (expect.edv if isinstance(expect.edv, int) else 0),
                       fps=int(expect.fps or 1), fps_source="expected", threads=threads, station=(station,) * n,
                       lg2_nchan=((expect.nchan or 1).bit_length() - 1,) * n, bits_m1=((expect.bits or 2) - 1,) * n,
                       complex=(int(bool(expect.complex)),) * n, ref_second=0,
                       declared_frame_bytes=declared_size, declared_legacy=declared_legacy)
