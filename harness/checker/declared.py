"""The stream against what was declared for it: station, frame size and header kind, frame rate.

Each frame breaking a declared value is already a corrupt header (rules ``station``, ``declared framing``,
``frame_nr``); a real CBF configured wrongly breaks it in every frame, so beside those the checker sums
them up: one finding per station carried, one for the frame size, one per thread whose frame numbers run
past the declared rate, each with its exact frame count. Tallied a window at a time with numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from harness.checker.result import Finding, Findings
from harness.checker.rules import RULE_BITS, Fields, Verdicts
from harness.checker.shape import StreamShape
from harness.formats.vdif.header import station_name

I64 = npt.NDArray[np.int64]
Locate = Callable[[int], tuple[str, int]]
"""(file, offset in it) of a logical byte position (``Recording.locate``)."""
SUMMARY_SHARE = 0.01
"""A station other than declared in more than 1 % of the frames, frame numbers at or above the declared rate in
more than 1 % of a thread's: a stream other than declared, not a few damaged headers (those stay corrupt
headers only)."""


def _failed(verdicts: Verdicts, rule: str, bits: Mapping[str, int]) -> npt.NDArray[np.bool_]:
    if rule not in bits:  # a format without the rule (Mark5B has no declared framing)
        return np.zeros(len(verdicts.failed), dtype=bool)
    return ((verdicts.failed >> bits[rule]) & 1).astype(bool)


class DeclaredTally:
    """Counts of frames breaking the declared station, framing and rate, with where the first of each is."""

    def __init__(self, shape: StreamShape, station_declared: bool, bits: Mapping[str, int] = RULE_BITS) -> None:
        self.shape = shape
        self.bits = bits
        self.station_declared = station_declared
        self.rate_declared = shape.fps_source == "expected"
        self.framing_declared = shape.declared_frame_bytes is not None or shape.declared_legacy is not None
        n = len(shape.threads)
        self.stations: Counter[tuple[int, int]] = Counter()
        """(station carried, thread rank) -> frames."""
        self.station_first: dict[int, int] = {}
        """Station carried -> position of its first frame."""
        self.faster = np.zeros(n, dtype=np.int64)
        self.faster_top = np.full(n, -1, dtype=np.int64)
        self.faster_first = np.full(n, -1, dtype=np.int64)
        self.framing = 0
        self.framing_first: int | None = None
        self.framing_seen: tuple[int, int] | None = None
        """(frame bytes, legacy bit) of the first frame breaking the declared framing."""

    def add(self, fields: Fields, verdicts: Verdicts, position: I64) -> None:
        """One window of frames (their header fields, verdicts and byte positions)."""
        valid = (verdicts.rank >= 0) & ~verdicts.invalid
        if self.station_declared:
            self._stations(fields, _failed(verdicts, "station", self.bits) & valid, verdicts.rank, position)
        if self.rate_declared:
            self._faster(fields, _failed(verdicts, "frame_nr", self.bits) & valid, verdicts.rank, position)
        if self.framing_declared:
            bad = _failed(verdicts, "declared framing", self.bits)  # fill frames too: their length field is the frames'
            if bad.any():
                self.framing += int(bad.sum())
                if self.framing_first is None:
                    i = int(np.argmax(bad))
                    self.framing_first = int(position[i])
                    self.framing_seen = (int(fields["frame_bytes"][i]), int(fields["legacy"][i]))

    def _stations(self, fields: Fields, bad: npt.NDArray[np.bool_], rank: I64, position: I64) -> None:
        if not bad.any():
            return
        carried = fields["station"][bad].astype(np.int64)
        keys, counts = np.unique((carried << 11) | rank[bad], return_counts=True)
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            self.stations[(key >> 11, key & 0x7FF)] += count
        values, first = np.unique(carried, return_index=True)
        for value, i in zip(values.tolist(), first.tolist(), strict=True):
            self.station_first.setdefault(value, int(position[bad][i]))

    def _faster(self, fields: Fields, bad: npt.NDArray[np.bool_], rank: I64, position: I64) -> None:
        if not bad.any():
            return
        r = rank[bad]
        n = len(self.faster)
        self.faster += np.bincount(r, minlength=n)
        np.maximum.at(self.faster_top, r, fields["frame_nr"][bad].astype(np.int64))
        first = np.full(n, -1, dtype=np.int64)
        first[r[::-1]] = position[bad][::-1]  # the first frame of each thread (last write wins)
        self.faster_first = np.where(self.faster_first < 0, first, self.faster_first)

    def findings(self, findings: Findings, locate: Locate, frames: I64, declared_station: int | None) -> None:
        """The summary findings, given each thread's frame count (rank order) and the declared station."""
        shape = self.shape
        if self.stations and declared_station is not None:
            by_station: dict[int, dict[int, int]] = {}
            for (value, rank), count in sorted(self.stations.items()):
                by_station.setdefault(value, {})[shape.threads[rank]] = count
            for value, threads in by_station.items():
                total = sum(threads.values())
                if total <= SUMMARY_SHARE * int(frames.sum()):
                    continue
                path, offset = locate(self.station_first[value])
                named = ", ".join(f"{t}: {n}" for t, n in threads.items())
                findings.add(Finding("station", offset, path, next(iter(threads)) if len(threads) == 1 else None,
                                     None, f"{total} frames carry station {_station(value)}, not the declared "
                                           f"{_station(declared_station)} (frames per thread {named})"))
        if self.framing and self.framing_first is not None and self.framing_seen is not None:
            path, offset = locate(self.framing_first)
            size, legacy = self.framing_seen
            declared = shape.declared_frame_bytes or shape.frame_bytes
            declared_legacy = shape.sync.legacy if shape.declared_legacy is None else shape.declared_legacy
            findings.add(Finding("frame_size", offset, path, None, None,
                                 f"{self.framing} frames are {size}-byte frames with {16 if legacy else 32}-byte "
                                 f"headers, not the declared {declared}-byte frames with "
                                 f"{16 if declared_legacy else 32}-byte headers; checked as found"))
        for rank, count in enumerate(self.faster.tolist()):
            if count and count > SUMMARY_SHARE * (int(frames[rank]) + count):
                path, offset = locate(int(self.faster_first[rank]))
                findings.add(Finding("frame_rate", offset, path, shape.threads[rank], None,
                                     f"{count} frames carry frame numbers at or above the declared {shape.fps} "
                                     f"frames/s (up to {int(self.faster_top[rank])}): the thread runs faster "
                                     "than declared"))


def _station(value: int) -> str:
    return f"{station_name(value)!r} (0x{value:04x})"
