"""A LOFAR CEP stream (one packet per RSP lane per ``slices`` time samples) generated in batches.

A station sends its beamlets on up to four lanes, each RSP board's packets to its own UDP port, each
lane with its own block of beamlets (the seed table: lane k of an international station holds beamlets
``k * capacity ..``, capacity 61, 122 or 244 at 16, 8 or 4 bits). A lane is a thread of the sender's
schedule; its RSP id (the header's ``rsp_id``) tells its packets apart. The beamlet range is not in the
header: only the port and the beamlet count say it.

A batch for packet steps ``first_index ..`` is ``(count * lanes, frame_bytes)`` uint8, step-major (every
lane's packet of a step, then the next step), as the sender's shared schedule sends the threads of a
frame index. Each packet is one datagram with no prefix, as the RSP boards send it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from harness.formats.lofar_cep.format import LOFAR_CEP
from harness.formats.lofar_cep.header import HEADER_BYTES, MODE_OF_BITS, HeaderError, pack_headers, payload_bytes
from harness.formats.lofar_cep.timecode import CLOCK_HZ, TICKS_PER_SAMPLE, samples_per_second, to_header
from harness.formats.pattern import write_pattern

LANE_CAPACITY = {16: 61, 8: 122, 4: 244}
"""Beamlets one lane carries at each bit mode (the seed's port table: 0:60, 0:121, 0:243)."""
MAX_LANES = 4
CLOCK_BIT = {200: 1, 160: 0}
"""Clock in MHz -> the header's clock bit."""


@dataclass(frozen=True)
class LofarCepStreamSpec:
    """Everything that fixes the bytes of a LOFAR CEP stream but its start time."""

    station: int
    bits: int = 8
    beamlets: int = 122
    """Beamlets in each packet (every lane's packets are the same size)."""
    slices: int = 16
    """Time samples per packet (16 in the real CEP stream)."""
    clock_mhz: int = 200
    rsp_ids: tuple[int, ...] = (0, 1, 2, 3)
    """The RSP id of each lane, lane k to UDP port base + k."""
    first_beamlets: tuple[int, ...] | None = None
    """The first beamlet of each lane (default: the seed's table, lane k from ``k * LANE_CAPACITY[bits]``)."""

    def __post_init__(self) -> None:
        if self.bits not in MODE_OF_BITS:
            raise HeaderError(f"{self.bits}-bit samples: LOFAR CEP has 4, 8 or 16")
        if self.clock_mhz not in CLOCK_BIT:
            raise HeaderError(f"a {self.clock_mhz} MHz clock: LOFAR stations run at 200 or 160 MHz")
        capacity = LANE_CAPACITY[self.bits]
        if not 1 <= self.beamlets <= capacity:
            raise HeaderError(f"{self.beamlets} beamlets per packet: a lane holds 1..{capacity} at {self.bits} bits")
        if not 1 <= self.slices <= 255:
            raise HeaderError(f"{self.slices} time samples per packet do not fit the header's byte (1..255)")
        if self.payload_bytes % 8:
            raise HeaderError(f"a {self.payload_bytes}-byte payload: the test pattern needs whole 8-byte words "
                              "(beamlets x time samples x bits / 2 a multiple of 8)")
        if not 0 <= self.station <= 0xFFFF:
            raise HeaderError(f"station {self.station} is outside 0..65535")
        rsp = self.rsp_ids
        if not 1 <= len(rsp) <= MAX_LANES or len(set(rsp)) < len(rsp) or min(rsp) < 0 or max(rsp) > 31:
            raise HeaderError(f"RSP ids {rsp}: 1..{MAX_LANES} distinct ids in 0..31 (5 bits)")
        if self.first_beamlets is not None and len(self.first_beamlets) != len(rsp):
            raise HeaderError(f"first beamlets {self.first_beamlets}: one per lane ({len(rsp)})")
        if min(self.beamlet_first) < 0:
            raise HeaderError(f"first beamlets {self.beamlet_first} must not be negative")
        ranges = sorted(zip(self.beamlet_first, self.beamlet_last, strict=True))
        if any(b[0] <= a[1] for a, b in pairwise(ranges)):
            raise HeaderError(f"lanes' beamlet ranges {self.beamlet_ranges} overlap")

    @property
    def clock_200(self) -> int:
        return CLOCK_BIT[self.clock_mhz]

    @property
    def threads(self) -> tuple[int, ...]:
        """The lanes' RSP ids: each a thread of the send schedule."""
        return self.rsp_ids

    @property
    def beamlet_first(self) -> tuple[int, ...]:
        if self.first_beamlets is not None:
            return self.first_beamlets
        return tuple(k * LANE_CAPACITY[self.bits] for k in range(len(self.rsp_ids)))

    @property
    def beamlet_last(self) -> tuple[int, ...]:
        return tuple(first + self.beamlets - 1 for first in self.beamlet_first)

    @property
    def beamlet_ranges(self) -> tuple[tuple[int, int], ...]:
        """Per lane, its first and last beamlet (inclusive, as the seed's table gives them)."""
        return tuple(zip(self.beamlet_first, self.beamlet_last, strict=True))

    @property
    def datagrams_per_frame(self) -> int:
        return 1

    @property
    def payload_bytes(self) -> int:
        return payload_bytes(self.beamlets, self.slices, self.bits)

    @property
    def frame_bytes(self) -> int:
        return HEADER_BYTES + self.payload_bytes

    @property
    def datagram_bytes(self) -> int:
        return self.frame_bytes

    @property
    def packets_per_second(self) -> Fraction:
        """Per lane: the sample clock over the samples per packet (12 207.03125/s at 200 MHz and 16)."""
        return samples_per_second(self.clock_200) / self.slices

    @property
    def fps(self) -> Fraction:
        """The send schedule's frames per second per thread: a lane's packets per second."""
        return self.packets_per_second

    @property
    def bits_per_second(self) -> float:
        """Bits on the wire per second, all lanes, UDP/IP excluded."""
        return float(self.packets_per_second) * len(self.rsp_ids) * self.frame_bytes * 8.0

    def generator(self, start: Fraction | int, first_sequence: int = 0) -> LofarCepGenerator:
        return LofarCepGenerator(self, start)


class LofarCepGenerator:
    """Makes the packets of a stream whose step 0 leads with the first sample on the packet grid (a multiple of
    ``slices`` samples since the epoch) at or after ``start``."""

    def __init__(self, spec: LofarCepStreamSpec, start: Fraction | int) -> None:
        self.spec = spec
        per_second = samples_per_second(spec.clock_200)
        self.first_sample = math.ceil(Fraction(start) * per_second / spec.slices) * spec.slices
        self._buffer = np.empty(0, dtype=np.uint8)

    def header_words(self, first_index: int, count: int) -> npt.NDArray[np.uint32]:
        spec = self.spec
        lanes = len(spec.rsp_ids)
        steps = first_index + np.arange(count, dtype=np.int64)
        time = to_header(np.repeat(self.first_sample + steps * spec.slices, lanes), spec.clock_200)
        values: dict[str, npt.ArrayLike] = {
            "rsp_id": np.tile(np.asarray(spec.rsp_ids, dtype=np.int64), count), "clock_200": spec.clock_200,
            "bits": spec.bits, "station": spec.station, "beamlets": spec.beamlets, "slices": spec.slices, **time,
        }
        return pack_headers(values, count * lanes)

    def batch(self, first_index: int, count: int) -> npt.NDArray[np.uint8]:
        """Packets of steps ``first_index .. first_index+count-1``, every lane's per step; valid until the next
        call."""
        spec = self.spec
        rows = count * len(spec.rsp_ids)
        size = rows * spec.frame_bytes
        if self._buffer.size < size:
            self._buffer = np.empty(size, dtype=np.uint8)
        out = self._buffer[:size].reshape(rows, spec.frame_bytes)
        words = self.header_words(first_index, count)
        out[:, :HEADER_BYTES].view("<u4")[:] = words
        write_pattern(out[:, HEADER_BYTES:].view("<u8"), LOFAR_CEP.pattern_keys(LOFAR_CEP.unpack_headers(words)))
        return out

    def frame_time(self, index: int) -> Fraction:
        """POSIX time of step ``index``'s leading sample."""
        return Fraction((self.first_sample + index * self.spec.slices) * TICKS_PER_SAMPLE,
                        CLOCK_HZ[self.spec.clock_200])
