"""LWA RBeam time: a 1-based packet sequence number counting spectra of 8192 samples at 196 MHz.

``t = seq * 8192 / 196e6`` (POSIX seconds). Each server sends one packet per sequence number, so a
server's packet rate is 196e6 / 8192 = 23 925.78125 /s: not whole, but exactly 765 625 packets
every 32 s (196e6 / 8192 = 765625 / 32).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 196_000_000
SAMPLES_PER_SEQ = 8192
SEQ_TIME = Fraction(SAMPLES_PER_SEQ, SAMPLE_RATE)
"""Seconds per sequence step (8192 / 196e6 = 1/23925.78125)."""
PACKETS_PER_SECOND = 1 / SEQ_TIME
CYCLE_SECONDS = PACKETS_PER_SECOND.denominator
"""The shortest whole number of seconds holding a whole number of sequence steps (32)."""
CYCLE_PACKETS = PACKETS_PER_SECOND.numerator
"""Sequence steps in ``CYCLE_SECONDS`` (765 625)."""


class RateError(ValueError):
    """A time or rate LWA RBeam's fixed sequence clock cannot give."""


def seq_time(seq: int) -> Fraction:
    """Exact POSIX time of sequence number ``seq``."""
    return seq * SEQ_TIME


def seq_at(time: Fraction | int) -> int:
    """The sequence number whose time is exactly ``time`` (refused off the sequence grid)."""
    seq = Fraction(time) / SEQ_TIME
    if seq.denominator != 1 or seq < 1:
        raise RateError(f"time {float(time)} is not a sequence boundary (a multiple of 8192/196e6 s, seq >= 1)")
    return int(seq)


def first_seq_after(time: Fraction | int) -> int:
    """The first sequence number at or after ``time``."""
    seq = Fraction(time) / SEQ_TIME
    return max(1, -(-seq.numerator // seq.denominator))


def seq_times(seq: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """POSIX time of each sequence number (float64: to ~0.1 us at present-day times)."""
    s = np.asarray(seq, dtype=np.uint64)
    whole, part = np.divmod(s, np.uint64(CYCLE_PACKETS))
    return whole.astype(np.float64) * CYCLE_SECONDS + part.astype(np.float64) * float(SEQ_TIME)
