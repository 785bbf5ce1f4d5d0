"""VDIF time: (reference epoch, seconds, frame number) <-> UTC.

The reference epoch counts half-years since 2000-01-01 00:00 UTC. Times here are POSIX seconds
(no leap seconds); baseband counts leap seconds inside the half-year, which agrees with this for
every epoch since 2017-01-01 (the last leap second so far).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import numpy.typing as npt

MAX_REF_EPOCH = 63


def epoch_start(ref_epoch: int) -> int:
    """POSIX time of the start of a reference epoch."""
    if not 0 <= ref_epoch <= MAX_REF_EPOCH:
        raise ValueError(f"reference epoch {ref_epoch} is outside 0..63")
    year, month = 2000 + ref_epoch // 2, 1 if ref_epoch % 2 == 0 else 7
    return calendar.timegm((year, month, 1, 0, 0, 0))


def ref_epoch_for(unix_seconds: float) -> int:
    """The reference epoch a writer uses at this time: the half-year it falls in."""
    when = datetime.fromtimestamp(unix_seconds, UTC)
    epoch = (when.year - 2000) * 2 + (1 if when.month >= 7 else 0)
    if not 0 <= epoch <= MAX_REF_EPOCH:
        raise ValueError(f"{when:%Y-%m-%d} has no VDIF reference epoch (2000..2031)")
    return epoch


def to_vdif(unix_seconds: Fraction | int, fps: int, ref_epoch: int | None = None) -> tuple[int, int, int]:
    """(ref_epoch, seconds since epoch, frame number) of the frame starting at this time."""
    epoch = ref_epoch_for(float(unix_seconds)) if ref_epoch is None else ref_epoch
    offset = Fraction(unix_seconds) - epoch_start(epoch)
    seconds = int(offset // 1)
    frame = (offset - seconds) * fps
    if frame.denominator != 1:
        raise ValueError(f"{float(unix_seconds)} is not on a frame boundary at {fps} frames/s")
    return epoch, seconds, int(frame)


def to_unix(
    ref_epoch: int | npt.ArrayLike, seconds: npt.ArrayLike, frame_nr: npt.ArrayLike, fps: int
) -> npt.NDArray[np.float64]:
    """POSIX time of each frame start (vectorised)."""
    starts = _EPOCH_STARTS[np.asarray(ref_epoch, dtype=np.int64)]
    return starts + np.asarray(seconds, dtype=np.float64) + np.asarray(frame_nr, dtype=np.float64) / fps


_EPOCH_STARTS = np.array([epoch_start(e) for e in range(MAX_REF_EPOCH + 1)], dtype=np.int64)


def iso(unix_seconds: float) -> str:
    """ISO-8601 UTC with microseconds, as the reports print times."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
