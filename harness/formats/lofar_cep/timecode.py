"""LOFAR CEP time: a Unix second (``timestamp``) and the time sample within it (``sequence``).

A time sample is 1024 clock ticks: 195 312.5 samples/s at the 200 MHz clock, 156 250 at 160 MHz. At
200 MHz a second does not hold a whole number of samples; the sample count from the epoch is
``(timestamp * clock + 512) // 1024 + sequence`` (``beamformed_packno`` of Olaf Wucknitz's VLBI recorder and of
udpPacketManager, which divide it by 16 for a packet number; the sequence stays below 195 313),
so consecutive packets of ``slices`` samples differ by ``slices`` in it, across second boundaries too.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

CLOCK_HZ = {1: 200_000_000, 0: 160_000_000}
"""Clock bit -> clock frequency."""
TICKS_PER_SAMPLE = 1024


class RateError(ValueError):
    """A time LOFAR CEP's sample clock cannot place."""


def samples_per_second(clock_200: int) -> Fraction:
    return Fraction(CLOCK_HZ[clock_200], TICKS_PER_SAMPLE)


def second_start(timestamp: npt.ArrayLike, clock_200: int) -> npt.NDArray[np.int64]:
    """The sample count at the start of each Unix second (the first sample the RSP gives it sequence 0)."""
    t = np.asarray(timestamp, dtype=np.int64)
    return (t * CLOCK_HZ[clock_200] + TICKS_PER_SAMPLE // 2) // TICKS_PER_SAMPLE


def sample_count(timestamp: npt.ArrayLike, sequence: npt.ArrayLike, clock_200: int) -> npt.NDArray[np.int64]:
    """Samples since the Unix epoch of each packet's leading sample."""
    return second_start(timestamp, clock_200) + np.asarray(sequence, dtype=np.int64)


def to_header(samples: npt.ArrayLike, clock_200: int) -> dict[str, npt.NDArray[np.int64]]:
    """(``timestamp``, ``sequence``) of sample counts: the second the sample falls in, and its place in it."""
    s = np.asarray(samples, dtype=np.int64)
    clock = CLOCK_HZ[clock_200]
    t = (s * TICKS_PER_SAMPLE) // clock
    t = np.where(second_start(t + 1, clock_200) <= s, t + 1, t)
    t = np.where(second_start(t, clock_200) > s, t - 1, t)
    return {"timestamp": t, "sequence": s - second_start(t, clock_200)}


def sample_times(samples: npt.ArrayLike, clock_200: int) -> npt.NDArray[np.float64]:
    return np.asarray(samples, dtype=np.float64) * TICKS_PER_SAMPLE / CLOCK_HZ[clock_200]
