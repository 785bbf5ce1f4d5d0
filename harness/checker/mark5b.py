"""How the checker reads Mark5B: its sync-word framing, its shape, its header rules and its header fields.

Everything after this (continuity, payload integrity, the result) is the checker VDIF uses: a Mark5B
stream is one thread (0) whose ``seconds`` are seconds since the start of the truncated MJD's
thousand days (``jjj`` * 86400 + seconds of day) and whose ``frame_nr`` has the 15-bit wrap undone.
The time code is trusted only with decimal BCD digits and a right CRC: a frame failing either (or
its sync word) cannot be placed by its header and stands in, by its position, for the frame it replaced.
jive5ab's fill frame for a lost datagram (every word 0x11223344, header included: it writes no
VDIF-style header for Mark5B) is an invalid frame, not a corrupt one; so is a frame sent in several datagrams
(vdif-send --frame-parts) one of which was lost: fill from its start (the raw pattern, or the VDIF fill header a
recorder in a VDIF mode writes, then the pattern), or fill where its payload first differs (the checker's
``partly_filled``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.framing import Run, SyncRef, find_first_synced, frame_runs, header_words
from harness.checker.readers import Recording
from harness.checker.rules import MAX_TIME_OFFSET, Fields, Rule, thread_rule
from harness.checker.shape import PREPASS_MAX_FRAMES, PREPASS_MIN_FRAMES, StreamShape, infer_fps
from harness.formats.mark5b.header import FRAME_BYTES, HEADER_BYTES, SYNC_WORD, time_code_crc
from harness.formats.mark5b.timecode import (
    DAY,
    FRACTION_UNITS,
    MJD_UNIX_EPOCH,
    WRAP,
    fraction_of,
    mjd_of,
    unwrap_frame_nr,
)
from harness.formats.registry import frame_format
from harness.formats.vdif.header import station_name

FORMAT = frame_format("mark5b")
FILL_WORD32 = np.uint32(0x11223344)
VDIF_INVALID = np.uint32(0x80000000)
"""Word 0 of the fill a recorder in a VDIF mode writes for a lost datagram (the invalid bit alone)."""
SYNC = SyncRef(FRAME_BYTES, 0, format="mark5b", sync_word=FORMAT.sync_word, sync_index=FORMAT.sync_word_index,
               words=HEADER_BYTES // 4)


def find_sync(recording: Recording, expect: Expectation) -> SyncRef:
    """The Mark5B framing, once a sync word is found that the next frame repeats."""
    for index, segment in enumerate(recording.segments):
        if find_first_synced(recording.buffer(segment), segment.start, segment.length, SYNC) is not None:
            return SYNC
        recording.finished(index)
    raise CheckerError(recording.segments[0].path, "no Mark5B frames found (no sync word 0xABADDEED that "
                                                   "the next frame repeats)")


def _day_seconds(raw: Fields) -> npt.NDArray[np.int64]:
    return raw["jday"].astype(np.int64) * DAY + raw["seconds"].astype(np.int64)


def infer_shape(recording: Recording, sync: SyncRef, expect: Expectation, window: int) -> StreamShape:
    """Station (user bits), frame rate and reference second from the good headers at the start."""
    if expect.wants_statistics:
        raise CheckerError(recording.segments[0].path, "sample statistics of Mark5B payloads are not implemented")
    vdif_only = [name for name, value in (("threads", expect.threads not in (None, (0,))), ("edv", expect.edv),
                                          ("bits", expect.bits), ("nchan", expect.nchan),
                                          ("complex", expect.complex)) if value not in (None, False)]
    if vdif_only:
        raise CheckerError(None, f"{', '.join(vdif_only)}: not for a Mark5B stream (one stream, thread 0)")
    collected: list[npt.NDArray[np.uint32]] = []
    total = 0
    for index, segment in enumerate(recording.segments):
        buffer = recording.buffer(segment)
        for piece in frame_runs(buffer, segment.start, segment.length, sync, window):
            if isinstance(piece, Run):
                words = np.array(header_words(buffer, segment.start + piece.start, piece.count, sync.frame_bytes, 4))
                collected.append(words if piece.damaged is None else words[~piece.damaged])
                total += len(collected[-1])
            if total >= max(PREPASS_MIN_FRAMES, 3 * (expect.fps or 0)) or total >= PREPASS_MAX_FRAMES:
                break
        del buffer
        recording.finished(index)
        if total >= PREPASS_MIN_FRAMES:
            break
    raw = FORMAT.unpack_headers(np.concatenate(collected)) if collected else None
    good = None if raw is None else raw["sync_ok"] & raw["bcd_ok"] & raw["crc_ok"]
    if raw is None or good is None or not good.any():
        if expect.fps is None:
            raise CheckerError(recording.segments[0].path, "no good Mark5B header (sync word, BCD and CRC); "
                               "give the frame rate to count the frames anyway")
        return _shape(sync, int(expect.fps), "expected", 0, expect, 0)
    seconds = _day_seconds(raw)[good]
    ref_second = int(np.median(seconds))
    if expect.fps is not None:
        fps, source = int(expect.fps), "expected"
    else:
        frame_nr = raw["frame_nr"][good].astype(np.int64)
        fps, source = infer_fps(seconds, frame_nr, np.zeros(len(seconds), dtype=np.int64))
        if fps >= WRAP:
            raise CheckerError(recording.segments[0].path, f"Mark5B frame numbers reach {WRAP - 1}: the 15-bit "
                               "field wraps above 2.6 Gbit/s, so give the frame rate (--fps)")
    station = int(expect.station) if isinstance(expect.station, int) else _mode(raw["user"][good])
    return _shape(sync, fps, source, ref_second, expect, station)


def _mode(values: npt.NDArray[Any]) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def _shape(sync: SyncRef, fps: int, source: str, ref_second: int, expect: Expectation, station: int) -> StreamShape:
    near = expect.schedule_start or expect.window_start or time.time()
    kilo_day = int(mjd_of(0, near))  # the MJD of jjj = 000 within 500 days of the recording
    return StreamShape(sync=sync, edv=None, fps=fps, fps_source=source, threads=(0,), station=(station,),
                       lg2_nchan=(0,), bits_m1=(0,), complex=(0,), ref_second=ref_second,
                       time_origin=(kilo_day - MJD_UNIX_EPOCH) * DAY)


def header_fields(words: npt.NDArray[np.uint32], shape: StreamShape) -> tuple[dict[str, npt.NDArray[Any]],
                                                                            npt.NDArray[np.uint64]]:
    """The checker's fields of a window of Mark5B headers, and each frame's pattern key (from the raw fields)."""
    raw = FORMAT.unpack_headers(words)
    keys = FORMAT.pattern_keys(raw)
    fields = dict(raw)
    fields["second_of_day"] = raw["seconds"]
    fields["seconds"] = np.where(raw["bcd_ok"], _day_seconds(raw), shape.ref_second)
    fields["frame_nr"] = unwrap_frame_nr(raw["frame_nr"], raw["fraction"], shape.fps)
    fields["field_frame_nr"] = raw["frame_nr"]
    fields["thread_id"] = np.zeros(len(words), dtype=np.int64)
    fields["station"] = raw["user"]
    raw_fill = (words[:, :4] == FILL_WORD32).all(axis=1)
    vdif_fill = (words[:, 0] == VDIF_INVALID) & (words[:, 1] == 0) & (words[:, 3] == 0)  # never a Mark5B header
    fields["invalid"] = (raw_fill | vdif_fill).astype(np.int64)
    return fields, keys


def _fraction_bad(f: Fields, w: npt.NDArray[np.uint32], s: StreamShape, r: npt.NDArray[np.int64]) -> Any:
    """The BCD fraction disagrees with frame number x frame time (truncated or rounded to 0.1 ms; 0 allowed)."""
    nr = f["frame_nr"].astype(np.int64)
    truncated = fraction_of(nr, s.fps)
    rounded = (nr * 2 * FRACTION_UNITS + s.fps) // (2 * s.fps)
    fraction = f["fraction"]
    return f["bcd_ok"] & (fraction != 0) & (fraction != truncated) & (fraction != rounded)


def _time_code(f: Fields, i: int) -> str:
    return f"{int(f['bcd_jday'][i]):03x} {int(f['bcd_seconds'][i]):05x}.{int(f['bcd_fraction'][i]):04x}"


def _crc(f: Fields, i: int) -> int:
    return int(time_code_crc(f["bcd_jday"][i], f["bcd_seconds"][i], f["bcd_fraction"][i]))


RULES: tuple[Rule, ...] = (
    Rule("sync word", True, lambda f, w, s, r: ~f["sync_ok"],
         lambda f, w, s, i, r: f"sync word 0x{int(f['sync'][i]):08x}, not 0x{SYNC_WORD:08x}"),
    Rule("BCD time code", True, lambda f, w, s, r: ~f["bcd_ok"],
         lambda f, w, s, i, r: f"time code {_time_code(f, i)} has a digit that is not decimal"),
    Rule("CRC", True, lambda f, w, s, r: ~f["crc_ok"],
         lambda f, w, s, i, r: f"CRC 0x{int(f['crc'][i]):04x}, time code {_time_code(f, i)}'s is 0x{_crc(f, i):04x}"),
    Rule("frame_nr", True, lambda f, w, s, r: f["frame_nr"] >= s.fps,
         lambda f, w, s, i, r: f"frame number {int(f['frame_nr'][i])} is not below the frame rate {s.fps}"),
    Rule("seconds", True, lambda f, w, s, r: np.abs(f["seconds"] - s.ref_second) > MAX_TIME_OFFSET,
         lambda f, w, s, i, r: f"time code {_time_code(f, i)} is more than a day from the stream's"),
    thread_rule("station", "station", lambda s: s.station, lambda v: f"{station_name(v)!r} (user bits 0x{v:04x})"),
    Rule("fraction", False, _fraction_bad,
         lambda f, w, s, i, r: f"BCD fraction .{int(f['fraction'][i]):04d} s, frame {int(f['frame_nr'][i])} of "
                               f"{s.fps}/s starts at .{int(fraction_of(f['frame_nr'][i], s.fps)):04d} s"),
)
"""Mark5B's header rules (see ``harness.checker.rules`` for placement and shape rules)."""
