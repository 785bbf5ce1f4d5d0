"""The send loop: generate due frames in batches, send them, keep the statistics."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, TextIO

import numpy as np
import numpy.typing as npt

from harness.formats.vdif.stream import FrameGenerator
from harness.formats.vdif.timecode import iso
from harness.sender.pacing import PacingMeter, Schedule
from harness.sender.wire_faults import WireFault, WireFaults


class Batches(Protocol):
    def batch(self, first_index: int, count: int) -> npt.NDArray[np.uint8]:
        """Datagrams of frame indices ``first_index ..`` of every thread: ``count * threads * datagrams_per_frame``
        rows, in send order (frame index, then thread, then part)."""
        ...


class DatagramTransport(Protocol):
    """Where the send loop's datagrams go: one UDP destination (``UdpTransport``), or one per lane
    (``sender.ports.LaneTransport``)."""

    destination: str
    by_lane: bool
    """Whether ``send`` needs each row's lane (the send loop works them out only then)."""

    @property
    def errors(self) -> Counter[str]: ...

    @property
    def gso(self) -> bool: ...

    @property
    def segments(self) -> int: ...

    @property
    def mtu(self) -> int: ...

    def send(self, datagrams: npt.NDArray[np.uint8], lanes: npt.NDArray[np.int64] | None = None) -> npt.NDArray[
            np.bool_]:
        """Send each row (``lanes``: the place of its thread in the stream); which rows left the host."""
        ...


class SendableStream(Protocol):
    """What the send loop needs of a format's stream (formats.vdif StreamSpec, formats.mark5b Mark5bStreamSpec)."""

    @property
    def fps(self) -> int | Fraction:
        """Frames per second per thread (a fraction where the format's clock has no whole rate)."""
        ...

    @property
    def threads(self) -> tuple[int, ...]: ...

    @property
    def frame_bytes(self) -> int: ...

    @property
    def datagram_bytes(self) -> int: ...

    @property
    def datagrams_per_frame(self) -> int: ...

    def generator(self, start: Fraction | int, first_sequence: int = 0) -> Batches: ...


@dataclass
class SenderStats:
    """What a run sent, per thread, and how well it kept time."""

    threads: dict[int, int]
    frame_bytes: int
    datagram_bytes: int
    fps: int | Fraction
    start: float
    first_sequence: int
    end: float = 0.0
    frames_due: int = 0
    """Frame indices (per thread) scheduled so far, sent or not."""
    dropped_on_purpose: int = 0
    duplicated: int = 0
    reordered: int = 0
    late: int = 0
    """Datagrams sent twice, sent after their thread's next (--wire-fault), and sent below the highest sequence
    number before them (what a UDPS reader counts out of order)."""
    skipped_threads: tuple[int, ...] = ()
    frames_skipped: int = 0
    """Frames of the skipped threads, scheduled but never sent."""
    failed: int = 0
    """Datagrams the kernel refused after retries (counted per datagram)."""
    interrupted: bool = False
    datagrams_per_frame: int = 1
    """Mark5B frames are larger than a jumbo datagram: sent in parts, each with its sequence number."""
    pacing: PacingMeter | None = None
    transport: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def frames_sent(self) -> int:
        return sum(self.threads.values())

    def to_json(self) -> dict[str, Any]:
        # The run covers its scheduled frame periods even when the last frame left early.
        elapsed = max(self.end - self.start, float(self.frames_due / self.fps), 1e-9)
        pacing = self.pacing
        sending = len(self.threads) - len(self.skipped_threads)
        wire_bytes = self.datagram_bytes * self.datagrams_per_frame
        return {
            "start_time": iso(self.start),
            "end_time": iso(self.end),
            "elapsed_s": round(elapsed, 6),
            "frames_sent": self.frames_sent,
            "bytes_sent": self.frames_sent * wire_bytes,
            "frame_bytes": self.frame_bytes,
            "datagram_bytes": self.datagram_bytes,
            "datagrams_per_frame": self.datagrams_per_frame,
            "threads": {
                str(t): {"frames": n, "bytes": n * self.frame_bytes} for t, n in self.threads.items()
            },
            "target_fps_per_thread": self.fps if isinstance(self.fps, int) else float(self.fps),
            "achieved_fps_per_thread": round(self.frames_sent / sending / elapsed, 3),
            "target_gbps": round(float(self.fps * sending * wire_bytes * 8) / 1e9, 6),
            "achieved_gbps": round(self.frames_sent * wire_bytes * 8 / elapsed / 1e9, 6),
            "worst_second_error_pct": None if pacing is None or not pacing.seconds_judged
            else round(pacing.worst_error * 100, 4),
            "seconds_judged": 0 if pacing is None else pacing.seconds_judged,
            "max_lateness_ms": None if pacing is None else round(pacing.max_lateness * 1000, 3),
            "first_sequence": self.first_sequence,
            "first_frame_posix": self.start,
            "schedule_end_posix": self.start + float(self.frames_due / self.fps),
            "datagrams_scheduled": self.frames_due * len(self.threads) * self.datagrams_per_frame,
            "dropped_on_purpose": self.dropped_on_purpose,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "late": self.late,
            "skipped_threads": list(self.skipped_threads),
            "frames_skipped": self.frames_skipped,
            "send_failed": self.failed,
            "send_errors": dict(sorted(self.errors.items())),
            "transport": self.transport,
            "interrupted": self.interrupted,
        }


class Sender:
    """Sends ``spec`` through ``transport`` from ``start`` for ``frames`` frames per thread."""

    def __init__(
        self, spec: SendableStream, transport: DatagramTransport, start: Fraction, *, frames: int | None = None,
        first_sequence: int = 0, drop_every: int = 0, skip_threads: tuple[int, ...] = (), progress: float = 0.0,
        progress_out: TextIO = sys.stderr, wire_faults: tuple[WireFault, ...] = (),
    ) -> None:
        self.spec = spec
        self.transport = transport
        self.schedule = Schedule(start, spec.fps)
        self.generator = spec.generator(start, first_sequence)
        self.parts = spec.datagrams_per_frame
        self.frames = frames
        self.drop_every = drop_every
        self.skip = np.repeat(np.isin(np.asarray(spec.threads), skip_threads), self.parts)
        """Per datagram of a frame index (thread by thread, part by part): never sent."""
        self.positions = np.flatnonzero(~self.skip) if self.skip.any() and not wire_faults and self.parts == 1 \
            and isinstance(self.generator, FrameGenerator) else None
        """The threads made at all (a process of --processes, or --skip-thread): the others are never generated;
        with wire faults, frames in parts or another format than VDIF, every row is made and the skipped ones left
        out as they go."""
        self.progress = progress
        self.progress_out = progress_out
        self.wire_faults = WireFaults(wire_faults, spec.fps, len(spec.threads) * self.parts)
        self.stop = threading.Event()
        self.on_batch: Callable[[np.ndarray], None] | None = None
        """Called with the frames sent so far per thread (in the stream's order) after each batch."""
        self.stats = SenderStats(
            threads=dict.fromkeys(spec.threads, 0), frame_bytes=spec.frame_bytes,
            datagram_bytes=spec.datagram_bytes, fps=spec.fps, start=float(start),
            first_sequence=first_sequence, skipped_threads=tuple(sorted(skip_threads)),
            datagrams_per_frame=self.parts,
        )

    def run(self) -> SenderStats:
        stats, schedule = self.stats, self.schedule
        nthreads = len(self.spec.threads)
        stats.pacing = PacingMeter(float(self.spec.fps * int((~self.skip).sum())), first_second=int(schedule.start))
        parts = self.parts
        burst = schedule.burst_frames
        sent_per_row = np.zeros(nthreads, dtype=np.int64)
        next_progress = time.time() + self.progress if self.progress else float("inf")
        if self.progress:  # the first frame's time, before any is sent: what a fault timeline counts from
            print(json.dumps({"start": float(schedule.start), "pid": os.getpid()}), file=self.progress_out,
                  flush=True)
        index = 0
        while not self.stop.is_set() and (self.frames is None or index < self.frames):
            now = time.time()
            due = schedule.frames_due(now)
            if due <= index:
                self.stop.wait(max(0.0, schedule.due_time(index) - now))
                continue
            count = self.wire_faults.frames_in_batch(index, min(due - index, burst))
            if self.frames is not None:
                count = min(count, self.frames - index)
            if self.positions is None:
                datagrams = self.generator.batch(index, count)
                sent_rows = self._send(datagrams, index * nthreads * parts)
                # a frame sent in parts is sent when all its parts left
                sent_per_row += sent_rows.reshape(count, nthreads, parts).min(axis=2).sum(axis=0)
            else:
                assert isinstance(self.generator, FrameGenerator)  # only VDIF (frames in one datagram) gets here
                datagrams = self.generator.batch(index, count, self.positions)
                sent_rows = self._send_made(datagrams, index, count)
                sent_per_row[self.positions] += sent_rows.reshape(count, len(self.positions)).sum(axis=0)
            if self.on_batch is not None:
                self.on_batch(sent_per_row)
            after = time.time()
            stats.pacing.record(after, int(sent_rows.sum()), after - schedule.due_time(index))
            index += count
            stats.frames_due = index
            if after >= next_progress:
                next_progress = after + self.progress
                self._report_progress(sent_per_row, after)
        stats.end = time.time()
        stats.pacing.finish(stats.end)
        stats.interrupted = self.stop.is_set()
        stats.threads = {t: int(n) for t, n in zip(self.spec.threads, sent_per_row, strict=True)}
        stats.errors = dict(self.transport.errors)
        stats.transport = {
            "gso": self.transport.gso, "datagrams_per_call": self.transport.segments,
            "route_mtu": self.transport.mtu, "destination": self.transport.destination,
        }
        return stats

    def _send(self, datagrams: np.ndarray, first_datagram: int) -> np.ndarray:
        """Send a batch, leaving out every ``drop_every``-th datagram and the skipped threads' rows; 1 per row
        that left. Rows left out keep their place in the schedule and their sequence numbers."""
        rows = datagrams.shape[0]
        sent = np.zeros(rows, dtype=np.int64)
        keep = np.ones(rows, dtype=bool)
        lanes = np.tile(np.repeat(np.arange(len(self.spec.threads)), self.parts), rows // len(self.skip)) \
            if self.transport.by_lane else None
        if self.skip.any():
            skipped = np.tile(self.skip, rows // len(self.skip))
            keep &= ~skipped
            self.stats.frames_skipped += int(skipped.sum()) // self.parts
        if self.drop_every:
            dropped = (first_datagram + np.arange(rows)) % self.drop_every == self.drop_every - 1
            self.stats.dropped_on_purpose += int((dropped & keep).sum())
            keep &= ~dropped
        order = self.wire_faults.order(first_datagram, keep)
        if order is not None:  # duplicated and swapped rows: each row counts once, sent if any copy left
            ok = self.transport.send(np.ascontiguousarray(datagrams[order]), None if lanes is None else lanes[order])
            sent_ok = np.zeros(rows, dtype=bool)
            np.logical_or.at(sent_ok, order, ok)
            sent[keep] = sent_ok[keep]
            self.stats.failed += int((~sent_ok[keep]).sum())
            wire = self.wire_faults
            self.stats.duplicated, self.stats.reordered, self.stats.late = wire.duplicated, wire.reordered, wire.late
            return sent
        if keep.all():
            ok = self.transport.send(datagrams, lanes)
        else:  # the rows that go, back to back, so that GSO still sends many per call
            ok = self.transport.send(np.ascontiguousarray(datagrams[keep]), None if lanes is None else lanes[keep])
        sent[keep] = ok  # a failed datagram is not retried later: it is counted
        self.stats.failed += int((~ok).sum())
        return sent

    def _send_made(self, datagrams: np.ndarray, index: int, count: int) -> np.ndarray:
        """Send a batch made of the sent threads' rows alone (``positions``), leaving out every ``drop_every``-th
        datagram of the whole stream; 1 per row that left."""
        assert self.positions is not None
        nthreads = len(self.spec.threads)
        self.stats.frames_skipped += count * (nthreads - len(self.positions))
        keep = np.ones(datagrams.shape[0], dtype=bool)
        if self.drop_every:
            numbers = (index + np.arange(count, dtype=np.int64))[:, None] * nthreads + self.positions[None, :]
            keep = (numbers.reshape(-1) % self.drop_every) != self.drop_every - 1
            self.stats.dropped_on_purpose += int((~keep).sum())
        sent = np.zeros(datagrams.shape[0], dtype=np.int64)
        lanes = np.tile(self.positions, count)[keep] if self.transport.by_lane else None
        ok = self.transport.send(datagrams if keep.all() else np.ascontiguousarray(datagrams[keep]), lanes)
        sent[keep] = ok
        self.stats.failed += int((~ok).sum())
        return sent

    def _report_progress(self, sent_per_row: np.ndarray, now: float) -> None:
        frames = int(sent_per_row.sum())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        line = {
            "t": round(now, 3), "frames_sent": frames, "bytes_sent": frames * self.spec.datagram_bytes * self.parts,
            "send_failed": self.stats.failed, "send_errors": dict(self.transport.errors),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "rss_bytes": usage.ru_maxrss * 1024,
        }
        print(json.dumps(line), file=self.progress_out, flush=True)
