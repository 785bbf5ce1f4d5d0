"""Checking one recording end to end: find the stream's shape, then every window of frames
through the header rules, payload integrity, sample statistics and continuity.

``check_files``, ``check_scan`` and ``check_mark6`` are plain top-level functions taking plain
values, so the scenario engine can run them in a worker process while the next scan records.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.absence import (
    EDGE_SLACK,
    Absent,
    Window,
    absences,
    ends_early_text,
    missing_thread_text,
    starts_late_text,
    window_report,
)
from harness.checker.continuity import Context, Continuity, Frames
from harness.checker.declared import DeclaredTally
from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.framing import Run, Skip, frame_runs, header_words
from harness.checker.headers import reading
from harness.checker.integrity import payload_view
from harness.checker.mark6 import mark6_recording
from harness.checker.profile import due_span, loss_profile, profile_findings
from harness.checker.readers import Recording, Segment, chunk_size_findings, flat_recording, vbs_recording
from harness.checker.result import CheckResult, Finding, Findings, ThreadReport
from harness.checker.rules import RANK_SHIFT, SLOT_BIAS, SLOT_MASK, Fields, Verdicts, describe, judge, rule_bits
from harness.checker.shape import StreamShape
from harness.checker.statistics import SampleStatistics
from harness.formats.vdif.header import station_name
from harness.formats.vdif.timecode import iso
from harness.frame_counts import FrameCounts

WINDOW_BYTES = 16 << 20
READ_AHEAD = 8  # windows (128 MiB) the kernel reads ahead; 2 halved the cold rate on this VM disk
"""Windows the kernel is asked to read ahead of the one being checked (cold data)."""
FILL_WORD = np.uint64(0x1122334411223344)
FILL_OFFSET = 16
FILL_SEEN = 32
"""Words of fill after the first 16 bytes that make a frame a fill frame though its end is data (a frame sent in
several datagrams whose first was lost)."""


def partly_filled(payloads: npt.NDArray[np.uint64], first_wrong: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    """Frames whose payload turns into jive5ab's fill pattern where it first differs from the pattern sent (right
    there, or after a 16-byte VDIF fill header): a later datagram of a frame sent in several was lost."""
    out = np.zeros(len(first_wrong), dtype=bool)
    rows = np.flatnonzero(first_wrong >= 0)
    if not len(rows):
        return out
    column = first_wrong[rows].astype(np.int64)
    out[rows] = payloads[rows, column] == FILL_WORD
    after = column + 2 < payloads.shape[1]  # a VDIF fill header: two 64-bit words, then the pattern
    out[rows[after]] |= payloads[rows[after], column[after] + 2] == FILL_WORD
    return out
"""jive5ab's fill frame: 16 bytes of header, then the fill pattern (words 4-7 included)."""


def check_files(paths: Sequence[str | os.PathLike[str]], expect: Expectation | None = None) -> CheckResult:
    """Check flat files (net2file output), taken as the consecutive parts of one recording."""
    return check_recording(flat_recording(paths), expect or Expectation())


def check_scan(name: str, disks: str, expect: Expectation | None = None) -> CheckResult:
    """Check a FlexBuff vbs scan: chunks ``<mount>/<name>/<name>.NNNNNNNN`` over the mount points ``disks``."""
    return check_recording(vbs_recording(name, disks), expect or Expectation())


def check_mark6(name: str, disks: str, expect: Expectation | None = None) -> CheckResult:
    """Check a Mark6 scatter-gather scan: files ``<mount>/<name>`` over the mount points ``disks``."""
    return check_recording(mark6_recording(name, disks), expect or Expectation())


def check_recording(recording: Recording, expect: Expectation) -> CheckResult:
    started = time.perf_counter()
    with recording:
        try:
            window = max(16, WINDOW_BYTES // (expect.frame_bytes or 8192))
            how = reading(expect.format)
            sync = how.find_sync(recording, expect)
            shape = how.infer_shape(recording, sync, expect, window)
            checker = _Checker(recording, shape, expect)
            checker.run()
            result = checker.result()
        except OSError as exc:  # e.g. a file shrinking under the check (SIGBUS is not catchable; this is)
            raise CheckerError(getattr(exc, "filename", None), f"cannot read: {exc.strerror or exc}") from None
    result.elapsed_s = time.perf_counter() - started
    return result


class _Checker:
    """One pass over a recording whose shape is settled."""

    def __init__(self, recording: Recording, shape: StreamShape, expect: Expectation) -> None:
        self.recording = recording
        self.shape = shape
        self.expect = expect
        self.findings = Findings(expect.max_findings)
        for finding in recording.findings:
            self.findings.add(finding)
        for finding in chunk_size_findings(recording, shape.frame_bytes):
            self.findings.add(finding)
        packet_size = recording.source.get("packet_size")
        if packet_size is not None and packet_size != shape.frame_bytes:
            self.findings.add(Finding("mark6_header", None, recording.segments[0].path, None, None,
                                      f"file header packet size {packet_size}, "
                                      f"the frames are {shape.frame_bytes} bytes"))
        self.window = max(16, WINDOW_BYTES // shape.frame_bytes)
        self.reading = reading(expect.format)
        self.rank_table = shape.rank_table()
        self.continuity = Continuity(Context(self.findings, recording.locate_many, self.key_time, shape.threads,
                                             shape.frame_bytes, shape.fps), expect.reorder_window)
        per_thread = recording.total_bytes // shape.frame_bytes // len(shape.threads)
        self.statistics = SampleStatistics(shape, expect, per_thread) if expect.wants_statistics else None
        self.declared = DeclaredTally(shape, station_declared=expect.station is not None,
                                      bits=rule_bits(self.reading.rules))
        self.capture: dict[str, Any] | None = None
        self.frames = self.invalid = self.corrupt = self.fill = 0
        self.stray = self.truncated = 0
        self.pending: dict[int, Finding] = {}
        """Findings of stand-in frames, by position, completed once continuity attributes them."""

    # ------------------------------------------------------------------ times
    def key_time(self, keys: npt.NDArray[np.int64]) -> list[str]:
        slot = (np.asarray(keys, dtype=np.int64) & SLOT_MASK) - SLOT_BIAS
        seconds, frame_nr = np.divmod(slot, self.shape.fps)
        unix = self.shape.epoch_unix + (self.shape.ref_second + seconds + frame_nr / self.shape.fps) * (
            self.shape.second_seconds)
        return [iso(float(t)) for t in unix]

    # ------------------------------------------------------------------ pass
    def run(self) -> None:
        frame = self.shape.frame_bytes
        segments = self.recording.segments
        for index, segment in enumerate(segments):
            buffer = self.recording.buffer(segment)
            base = int(self.recording.starts[index])
            span = self.window * frame
            self.recording.populate(segment, 0, span)
            self.recording.read_ahead(base, (READ_AHEAD + 1) * span)
            done = 0
            for piece in frame_runs(buffer, segment.start, segment.length, self.shape.sync, self.window):
                if self._shrank(segment, done):
                    break
                if isinstance(piece, Run):
                    done = piece.start + piece.count * frame
                    self._frames(buffer, segment, base, piece)
                    self.recording.release(segment, piece.start, piece.count * frame)
                    # map the window the framer reads next; keep READ_AHEAD more windows being read
                    self.recording.populate(segment, done, span)
                    self.recording.read_ahead(base + done, (READ_AHEAD + 1) * span)
                else:
                    done = piece.start + piece.length
                    self._skip(segment, base, piece, last=index == len(segments) - 1)
                if self._shrank(segment, done):  # before the framer reads the next window
                    break
            self.recording.finished(index)
        self.continuity.finish()

    def _shrank(self, segment: Segment, done: int) -> bool:
        """The segment's file is shrinking under the checker: a finding, and the rest of it is not read."""
        why = self.recording.shrinking(segment)
        if why is None:
            return False
        self.findings.add(Finding("file_shrank", segment.start + done, segment.path, None, None,
                                  f"{why}; checked up to byte {segment.start + done}, the rest not read"))
        self.recording.abandon(segment)
        return True

    def _frames(self, buffer: mmap.mmap, segment: Segment, base: int, run: Run) -> None:
        shape, frame = self.shape, self.shape.frame_bytes
        offset = segment.start + run.start
        words = np.array(header_words(buffer, offset, run.count, frame, shape.sync.header_words))
        fields, keys = self.reading.fields(words, shape, self.expect.payload == "pattern")
        verdicts = judge(fields, words, run.damaged, shape, self.rank_table, self.reading.rules)
        position = base + run.start + np.arange(run.count, dtype=np.int64) * frame
        good = verdicts.placed & ~verdicts.invalid & ~verdicts.corrupt
        payload = np.full(run.count, -2, dtype=np.int32)
        partly = None
        if self.expect.payload == "pattern" or self.statistics is not None:
            payloads = payload_view(buffer, offset, run.count, frame, shape.header_bytes, self.reading.payload_dtype)
            if keys is not None:
                payload = self.reading.check_payload(payloads, keys, good)
                if self.reading.payload_dtype == "<u8":
                    partly = partly_filled(payloads, payload)
                    if partly.any():  # a lost datagram of a frame sent in several: fill, not a payload error
                        verdicts.invalid |= partly
                        payload[partly] = -2
                        good &= ~partly
            if self.statistics is not None:
                self.statistics.add(payloads, verdicts.rank, good)
            del payloads
        self.frames += run.count
        self.invalid += int(verdicts.invalid.sum())
        self.declared.add(fields, verdicts, position)
        self.corrupt += int(verdicts.corrupt.sum())
        if verdicts.invalid.any():
            self._invalid_frames(buffer, offset, fields, verdicts, position, partly)
        if verdicts.corrupt.any():
            self._corrupt_headers(fields, words, verdicts, position)
        placed = verdicts.placed
        # stand-ins first: placing frames may settle gaps, and a gap must see the stand-ins inside it
        self.continuity.stand_ins(position[~placed], verdicts.invalid[~placed])
        self.continuity.add(Frames(verdicts.rank[placed], verdicts.key[placed], position[placed],
                                   verdicts.invalid[placed], verdicts.corrupt[placed], payload[placed]))

    def _invalid_frames(self, buffer: mmap.mmap, offset: int, fields: Fields, verdicts: Verdicts,
                        position: npt.NDArray[np.int64], partly: npt.NDArray[np.bool_] | None = None) -> None:
        index = np.flatnonzero(verdicts.invalid)
        body = payload_view(buffer, offset, len(verdicts.invalid), self.shape.frame_bytes, FILL_OFFSET)
        fill = (body[index] == FILL_WORD).all(axis=1)
        # a frame whose first datagram was lost: fill from its start, the header a VDIF fill header or the pattern
        headed = body[index, :FILL_SEEN] == FILL_WORD
        fill |= headed.all(axis=1)
        part = np.zeros(len(index), dtype=bool) if partly is None else partly[index]
        del body
        self.fill += int((fill | part).sum())
        shown = index[: self.findings.room("invalid_frames")]
        files, offsets = self.recording.locate_many(position[shown])
        times = self.key_time(verdicts.key[shown])
        for j, i in enumerate(shown.tolist()):
            placed = bool(verdicts.placed[i])
            what = ("jive5ab fill frame (fill pattern 0x11223344)" if fill[j] else
                    "jive5ab fill pattern (0x11223344) in place of part of the frame (a lost datagram)" if part[j]
                    else "invalid bit set")
            finding = Finding("invalid_frames", int(offsets[j]), files[j],
                              int(fields["thread_id"][i]) if placed else None, times[j] if placed else None, what)
            self.findings.add(finding)
            if not placed:
                self._pend(int(position[i]), finding)
        self.findings.count("invalid_frames", len(index) - len(shown))

    def _corrupt_headers(self, fields: Fields, words: npt.NDArray[np.uint32],
                         verdicts: Verdicts, position: npt.NDArray[np.int64]) -> None:
        index = np.flatnonzero(verdicts.corrupt)
        shown = index[: self.findings.room("corrupt_headers")]
        files, offsets = self.recording.locate_many(position[shown])
        times = self.key_time(verdicts.key[shown])
        for j, i in enumerate(shown.tolist()):
            detail = describe(fields, words, self.shape, i, int(verdicts.failed[i]), int(verdicts.rank[i]),
                              self.reading.rules)
            finding = Finding("corrupt_headers", int(offsets[j]), files[j], int(fields["thread_id"][i]),
                              times[j] if verdicts.placed[i] else None, detail)
            self.findings.add(finding)
            if not verdicts.placed[i]:
                self._pend(int(position[i]), finding)
        self.findings.count("corrupt_headers", len(index) - len(shown))

    def _pend(self, position: int, finding: Finding) -> None:
        self.pending[position] = finding
        self.continuity.watch(np.array([position]))

    def _complete_pending(self) -> None:
        """Stand-in frames attributed to a thread's missing slot: name that thread and time."""
        for position, finding in self.pending.items():
            place = self.continuity.attributed.get(position)
            if place is None:
                continue
            rank, key = place
            when = self.key_time(np.array([key]))[0]
            thread = self.shape.threads[rank]
            self.findings.replace(finding, Finding(finding.kind, finding.offset, finding.file, thread, when,
                                                   f"{finding.detail}; in place of thread {thread}'s frame of {when}"))

    def _skip(self, segment: Segment, base: int, skip: Skip, last: bool) -> None:
        offset = segment.start + skip.start
        where = f"{segment.kind} {segment.label}: " if segment.label else ""
        if skip.kind == "stray":
            self.stray += skip.length
            self.findings.add(Finding("stray_bytes", offset, segment.path, None, None,
                                      f"{where}{skip.length} bytes where a frame should start; "
                                      f"frames line up again at offset {offset + skip.length}"))
            return
        self.truncated += skip.length
        if segment.kind == "file" or last or segment.length % self.shape.frame_bytes == 0:
            self.findings.add(Finding("truncated_frame", offset, segment.path, None, None,
                                      f"{where}the last {skip.length} bytes are a partial "
                                      f"{self.shape.frame_bytes}-byte frame"))

    # ------------------------------------------------------------------ result
    def result(self) -> CheckResult:
        shape, c, cont = self.shape, self.continuity.counts, self.continuity
        self._complete_pending()
        threads: dict[int, ThreadReport] = {}
        seen = cont.last >= 0
        slot_first, slot_last = cont.first, cont.last
        stream_first = int(slot_first[seen].min()) if seen.any() else 0
        stream_last = int(slot_last[seen].max()) if seen.any() else 0
        for rank, thread in enumerate(shape.threads):
            report = ThreadReport(thread, FrameCounts(
                frames=int(c.placed[rank] + c.stand_in_invalid[rank] + c.stand_in_corrupt[rank]),
                invalid_frames=int(c.invalid[rank] + c.stand_in_invalid[rank]),
                missing_frames=int(c.missing[rank]), duplicate_frames=int(c.duplicates[rank]),
                out_of_order_frames=int(c.out_of_order[rank]),
                corrupt_headers=int(c.corrupt[rank] + c.stand_in_corrupt[rank]),
                payload_errors=int(c.payload_errors[rank])))
            report.max_displacement = int(c.max_displacement[rank])
            report.time_backwards = int(c.backwards[rank])
            if seen[rank]:
                first, last = self.key_time(np.array([cont.first[rank], cont.last[rank]]))
                report.first_time, report.last_time = first, last
                report.frame_rate = int(c.max_frame_nr[rank]) + 1
                report.absent_at_start = int(slot_first[rank]) - stream_first
                report.absent_at_end = stream_last - int(slot_last[rank])
            threads[thread] = report
        self._thread_findings(threads, seen, stream_first, stream_last)
        station = self.expect.station
        self.declared.findings(self.findings, self.recording.locate,
                               np.array([r.frame_counts.frames for r in threads.values()], dtype=np.int64),
                               None if station is None else int(station))
        result = CheckResult(source=self.recording.source)
        result.threads = threads
        result.window = self.capture
        # frames, invalid and corrupt ones over the whole recording (those of no thread's too); the rest the threads'
        result.frame_counts = replace(sum((r.frame_counts for r in threads.values()), FrameCounts()),
                                      frames=self.frames, invalid_frames=self.invalid,
                                      corrupt_headers=self.corrupt + cont.outliers)
        result.time_backwards = sum(r.time_backwards for r in threads.values())
        result.max_displacement = max((r.max_displacement for r in threads.values()), default=0)
        result.stray_bytes = self.stray
        result.truncated_bytes = self.truncated
        result.bytes = self.recording.total_bytes
        result.fill_frames = self.fill
        result.frame_bytes = shape.frame_bytes
        result.frame_rate = shape.fps
        result.frame_rate_source = shape.fps_source
        result.payload = self.expect.payload
        result.station = station_name(shape.station[0]) if shape.station else None
        if seen.any():
            result.start_time, result.end_time = self.key_time(
                np.array([stream_first, stream_last]))
            result.duration_s = (stream_last - stream_first + 1) / shape.fps * shape.second_seconds
        if seen.any():
            result.profile = self._profile(stream_first - SLOT_BIAS, stream_last - SLOT_BIAS)
        if self.expect.expected_frames is not None and self.frames != self.expect.expected_frames:
            short = self.expect.expected_frames - self.frames
            self.findings.add(Finding("frame_count", None, None, None, None,
                                      f"{self.frames} frames where {self.expect.expected_frames} were expected "
                                      f"({abs(short)} {'fewer' if short > 0 else 'more'})"))
        if self.statistics is not None:
            result.statistics = self.statistics.finish(self.findings)
        result.findings = self.findings.listing()
        result.counts = {k: v for k, v in self.findings.counts.items() if v}
        return result

    def _thread_findings(self, threads: dict[int, ThreadReport], seen: npt.NDArray[np.bool_],
                         stream_first: int, stream_last: int) -> None:
        """Expected threads with no frame at all, threads that start late or stop early (by more than one frame:
        a recording may start or end part way through a set of threads), a stream that starts after or ends
        before the capture window, and threads below the declared rate. Frames absent so are missing frames."""
        shape, cont = self.shape, self.continuity
        cov = cont.coverage
        rank_of = cov.starts >> RANK_SHIFT
        first_pos = {int(r): int(p) for r, p in zip(rank_of[::-1], cov.start_pos[::-1], strict=True)}
        last_pos = {int(r): int(p) for r, p in zip(rank_of, cov.end_pos, strict=True)}
        window = self._capture_window()
        due = None
        if window is not None and seen.any():
            low, high = window.due_slots(shape.epoch_unix + shape.ref_second, shape.fps)
            due = (low + SLOT_BIAS, high + SLOT_BIAS)
        absent = absences(cont.first.tolist(), cont.last.tolist(), seen.tolist(), due, cont.loose_invalid,
                          cont.loose_corrupt)
        for rank, (thread, report) in enumerate(threads.items()):
            a = absent[rank]
            report.window_absent_at_start, report.window_absent_at_end = a.window_start, a.window_end
            report.frame_counts += FrameCounts(frames=a.stood_in, invalid_frames=a.stood_invalid,
                                               missing_frames=a.missing, corrupt_headers=a.stood_corrupt)
            if not seen[rank]:
                self.findings.add(Finding("missing_thread", None, None, thread, None,
                                          self._missing_thread(thread, a, seen, stream_first, stream_last)))
                continue
            self._rate_below(rank, thread, report)
            stood = f" ({a.stood_in} of the thread's absent frames stood in by invalid or damaged frames)" \
                if a.stood_in else ""
            if report.absent_at_start > EDGE_SLACK:
                path, offset = self.recording.locate(first_pos[rank])
                self.findings.add(Finding("thread_starts_late", offset, path, thread, report.first_time,
                                          f"first frame {report.absent_at_start} frames after the stream's first: "
                                          f"{report.absent_at_start} frames absent at its start{stood}"))
            if report.absent_at_end > EDGE_SLACK:
                path, offset = self.recording.locate(last_pos[rank])
                self.findings.add(Finding("thread_stops_early", offset, path, thread, report.last_time,
                                          f"last frame {report.absent_at_end} frames before the stream's last: "
                                          f"{report.absent_at_end} frames absent at its end{stood}"))
        if window is not None:
            self._window_findings(window, absent, seen, first_pos, last_pos, stream_first, stream_last)

    def _profile(self, stream_first: int, stream_last: int) -> dict[str, Any]:
        """The per-second loss profile (JSON) and its findings; slots unbiased."""
        shape, expect = self.shape, self.expect
        schedule = None
        if expect.schedule_start is not None and expect.schedule_end is not None:
            schedule = (expect.schedule_start, expect.schedule_end)
        window = self._capture_window()
        due = due_span(shape.epoch_unix + shape.ref_second, shape.fps, (stream_first, stream_last), schedule,
                       None if window is None else (window.due_from, window.due_to))
        first, counts = self.continuity.seconds.seconds()
        profile = loss_profile(first, counts, shape.fps, shape.threads, due)
        for finding in profile_findings(profile, (stream_first, stream_last), self._second_time):
            self.findings.add(finding)
        return profile.to_json(self._second_time)

    def _second_time(self, seconds: float) -> str:
        """ISO time of ``seconds`` after the stream's reference second."""
        return iso(self.shape.epoch_unix + (self.shape.ref_second + seconds) * self.shape.second_seconds)

    def _capture_window(self) -> Window | None:
        expect = self.expect
        if expect.window_start is None or expect.window_end is None:
            return None
        return Window(expect.window_start, expect.window_end, expect.window_tolerance_s)

    def _slot_time(self, slot: int) -> float:
        """POSIX time of the start of a slot's frame."""
        return self.shape.epoch_unix + (self.shape.ref_second + (slot - SLOT_BIAS) / self.shape.fps) * (
            self.shape.second_seconds)

    def _missing_thread(self, thread: int, a: Absent, seen: npt.NDArray[np.bool_], stream_first: int,
                        stream_last: int) -> str:
        if not seen.any():
            return f"thread {thread} has no frame in the recording (nor has any thread: no span to count frames in)"
        first, last = self.key_time(np.array([stream_first, stream_last]))
        return missing_thread_text(thread, a, first, last)

    def _rate_below(self, rank: int, thread: int, report: ThreadReport) -> None:
        """A thread whose frame numbers stop short of the declared rate (a second of it at least)."""
        cont, fps = self.continuity, self.shape.fps
        span = int(cont.last[rank] - cont.first[rank]) + 1
        if self.shape.fps_source != "expected" or report.frame_rate is None or report.frame_rate == fps \
                or span <= fps:
            return
        distinct = int(cont.counts.distinct[rank])
        self.findings.add(Finding("frame_rate", None, None, thread, None,
                                  f"frame numbers go up to {report.frame_rate - 1}: {report.frame_rate} frames/s, "
                                  f"not the {fps} expected; {distinct} frames over the thread's {span / fps:.3f} s "
                                  f"where {span} were due ({span - distinct} fewer)"))

    def _window_findings(self, window: Window, absent: list[Absent], seen: npt.NDArray[np.bool_],
                         first_pos: dict[int, int], last_pos: dict[int, int], stream_first: int,
                         stream_last: int) -> None:
        """The stream against the capture window: frames due at its start or end that are absent."""
        self.capture = window_report(window, absent)
        if not seen.any():
            return
        first, last = self.key_time(np.array([stream_first, stream_last]))
        if any(a.window_start for a in absent):
            path, offset = self.recording.locate(min(first_pos.values()))
            late = self._slot_time(stream_first) - window.start
            self.findings.add(Finding("stream_starts_late", offset, path, None, first,
                                      starts_late_text(window, absent, late)))
        if any(a.window_end for a in absent):
            path, offset = self.recording.locate(max(last_pos.values()))
            early = window.end - self._slot_time(stream_last + 1)
            self.findings.add(Finding("stream_ends_early", offset, path, None, last,
                                      ends_early_text(window, absent, early)))
