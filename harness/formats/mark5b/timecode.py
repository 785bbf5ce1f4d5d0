"""Mark5B time: POSIX seconds <-> (truncated MJD ``jjj``, seconds of day, frame number, 0.1 ms fraction).

A frame carries 80 000 payload bits, so frames per second = total bit rate / 80 000 (12 800 at
1 Gbit/s). The frame number field has 15 bits: above 2.6 Gbit/s (32 768 frames/s) it wraps within
the second, and jive5ab adds 0x8000 back when it sees the wrap; here the BCD fraction says how
many times it wrapped. The fraction is the frame's time truncated to 0.1 ms (as baseband writes it;
mark5access and baseband "unround" it); some DBEs leave it zero.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

from harness.formats.mark5b.header import FRAME_NR_BITS, PAYLOAD_BYTES

MJD_UNIX_EPOCH = 40587
"""MJD of 1970-01-01."""
DAY = 86400
FRACTION_UNITS = 10000
"""The BCD fraction counts 0.1 ms."""
WRAP = 1 << FRAME_NR_BITS


class RateError(ValueError):
    """A data rate that gives no whole number of Mark5B frames per second."""


def frames_per_second(bits_per_second: Fraction | int) -> int:
    """Frames per second at this total bit rate (10 000-byte payloads): ``rate / 80 000``, whole."""
    rate = Fraction(bits_per_second) / (8 * PAYLOAD_BYTES)
    if rate.denominator != 1 or rate <= 0:
        raise RateError(f"{float(bits_per_second) / 1e6:g} Mbit/s gives {float(rate):.4f} Mark5B frames/s, "
                        f"not a positive whole number (the rate must be a multiple of 80 000 bit/s)")
    return int(rate)


def fraction_of(frame_in_second: npt.ArrayLike, fps: int) -> npt.NDArray[np.int64]:
    """The BCD fraction (0.1 ms units, truncated) of frames this far into their second."""
    return np.asarray(frame_in_second, dtype=np.int64) * FRACTION_UNITS // fps


def to_mark5b(start: Fraction | int, index: npt.ArrayLike, fps: int) -> dict[str, npt.NDArray[np.int64]]:
    """The time fields (``jday``, ``seconds``, ``fraction``, ``frame_nr``) of frames ``index`` of a stream
    whose frame 0 starts at POSIX time ``start`` (frame-aligned). ``frame_nr`` is the 15-bit field."""
    first = Fraction(start) * fps
    if first.denominator != 1:
        raise ValueError(f"start {float(start)} is not on a frame boundary at {fps} frames/s")
    unix_second, frame = np.divmod(int(first) + np.asarray(index, dtype=np.int64), fps)
    day, seconds = np.divmod(unix_second, DAY)
    return {"jday": (day + MJD_UNIX_EPOCH) % 1000, "seconds": seconds, "fraction": fraction_of(frame, fps),
            "frame_nr": frame % WRAP}


def unwrap_frame_nr(frame_nr: npt.ArrayLike, fraction: npt.ArrayLike, fps: int) -> npt.NDArray[np.int64]:
    """The frame number within the second, the 15-bit wrap undone from the fraction (where it is not zero)."""
    nr = np.asarray(frame_nr, dtype=np.int64)
    if fps <= WRAP:
        return nr
    frac = np.asarray(fraction, dtype=np.int64)
    estimate = frac * fps // FRACTION_UNITS
    wraps = np.where(frac > 0, np.rint((estimate - nr) / WRAP), 0).astype(np.int64)
    return nr + np.maximum(wraps, 0) * WRAP


def mjd_of(jday: npt.ArrayLike, near: float) -> npt.NDArray[np.int64]:
    """Full MJD from the truncated ``jjj``: the one within 500 days of POSIX time ``near``."""
    near_mjd = near / DAY + MJD_UNIX_EPOCH
    j = np.asarray(jday, dtype=np.int64)
    return j + np.rint((near_mjd - j) / 1000).astype(np.int64) * 1000


def to_unix(jday: npt.ArrayLike, seconds: npt.ArrayLike, frame_nr: npt.ArrayLike, fps: int,
            near: float) -> npt.NDArray[np.float64]:
    """POSIX time of each frame start from its (truncated MJD, seconds of day, unwrapped frame number)."""
    days = (mjd_of(jday, near) - MJD_UNIX_EPOCH).astype(np.float64)
    return days * DAY + np.asarray(seconds, dtype=np.float64) + np.asarray(frame_nr, dtype=np.float64) / fps
