"""The send schedule and how well it was kept.

Frame k (of every thread) is due at ``start + k / fps`` (``fps`` whole, or a fraction where a format's
clock gives no whole rate: LWA RBeam's 765625/32); due times are computed from k, never
accumulated, so the schedule cannot drift. Bursts are bounded: at most ``burst_frames`` frames
per thread leave back to back (2 ms of data, at least one frame; one more while a `reorder` wire fault
keeps a pair together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

BURST_SECONDS = 0.002


@dataclass
class Schedule:
    start: Fraction
    fps: int | Fraction
    burst_seconds: float = BURST_SECONDS

    @property
    def burst_frames(self) -> int:
        return max(1, math.ceil(self.fps * self.burst_seconds))

    def due_time(self, index: int) -> float:
        return float(self.start + Fraction(index) / self.fps)

    def frames_due(self, now: float) -> int:
        """How many frames (per thread) are due at wall time ``now``."""
        elapsed = now - float(self.start)
        return 0 if elapsed < 0 else math.floor(elapsed * self.fps) + 1


@dataclass
class PacingMeter:
    """Frames sent per wall-clock second, and the worst relative error over whole seconds."""

    target_per_second: float
    first_second: int
    worst_error: float = 0.0
    worst_second: int | None = None
    max_lateness: float = 0.0
    _second: int | None = None
    _count: int = 0
    seconds_judged: int = field(default=0)

    def record(self, when: float, frames: int, lateness: float) -> None:
        second = math.floor(when)
        if second != self._second:
            self._close_second()
            self._second, self._count = second, 0
        self._count += frames
        self.max_lateness = max(self.max_lateness, lateness)

    def _close_second(self) -> None:
        if self._second is None or self._second < self.first_second:
            return
        error = abs(self._count - self.target_per_second) / self.target_per_second
        self.seconds_judged += 1
        if error >= self.worst_error:
            self.worst_error, self.worst_second = error, self._second

    def finish(self, stop_time: float) -> None:
        """Judge the last second only if the run covered all of it."""
        if self._second is not None and stop_time >= self._second + 1:
            self._close_second()
        self._second = None
