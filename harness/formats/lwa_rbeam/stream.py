"""An LWA RBeam stream (one packet per server per sequence step) generated in batches.

A batch for sequence steps ``first_index ..`` is ``(count * servers, frame_bytes)`` uint8, step-major
(every server's packet of a step, then the next step), as the sender's shared schedule sends the
threads of a frame index. Each packet is one datagram with no prefix, as the LWA digital system sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from harness.formats.lwa_rbeam.header import HEADER_BYTES, HeaderError, frame_bytes, pack_headers, unpack_headers
from harness.formats.lwa_rbeam.payload import keys_of, write_pattern
from harness.formats.lwa_rbeam.timecode import SEQ_TIME, first_seq_after


@dataclass(frozen=True)
class LwaRbeamStreamSpec:
    """Everything that fixes the bytes of an LWA RBeam stream but its start time."""

    nchan: int
    servers: tuple[int, ...] = (1,)
    """The 1-based server numbers sending (each a thread of the schedule)."""
    chan0: int = 0
    nbeam: int = 1
    nserver: int = 1
    gbe: int = 0

    def __post_init__(self) -> None:
        frame_bytes(self.nchan, self.nbeam)  # refuses an empty payload
        if not self.servers or min(self.servers) < 1 or max(self.servers) > 255 or len(set(self.servers)) < len(
                self.servers):
            raise HeaderError(f"servers {self.servers}: need distinct 1-based numbers up to 255")
        if not 0 <= self.chan0 <= 0xFFFF or self.nchan > 0xFFFF:
            raise HeaderError(f"chan0 {self.chan0} / nchan {self.nchan} do not fit in 16 bits")

    @property
    def threads(self) -> tuple[int, ...]:
        return self.servers

    @property
    def datagrams_per_frame(self) -> int:
        return 1

    @property
    def frame_bytes(self) -> int:
        return frame_bytes(self.nchan, self.nbeam)

    @property
    def datagram_bytes(self) -> int:
        return self.frame_bytes

    @property
    def values_per_packet(self) -> int:
        return (self.frame_bytes - HEADER_BYTES) // 4

    @property
    def packets_per_second(self) -> Fraction:
        """Per server: 196e6 / 8192."""
        return 1 / SEQ_TIME

    @property
    def fps(self) -> Fraction:
        """The send schedule's frames per second per thread: the packets per second of a server."""
        return self.packets_per_second

    @property
    def bits_per_second(self) -> float:
        """Bits on the wire per second, all servers, UDP/IP excluded."""
        return float(self.packets_per_second) * len(self.servers) * self.frame_bytes * 8.0

    def generator(self, start: Fraction | int, first_sequence: int = 0) -> LwaRbeamGenerator:
        return LwaRbeamGenerator(self, start)


class LwaRbeamGenerator:
    """Makes the packets of a stream whose step 0 is the first sequence step at or after ``start``."""

    def __init__(self, spec: LwaRbeamStreamSpec, start: Fraction | int) -> None:
        self.spec = spec
        self.first_seq = first_seq_after(start)
        self._buffer = np.empty(0, dtype=np.uint8)

    def header_words(self, first_index: int, count: int) -> npt.NDArray[np.uint32]:
        spec = self.spec
        servers = np.asarray(spec.servers, dtype=np.int64)
        seq = np.repeat(np.uint64(self.first_seq + first_index) + np.arange(count, dtype=np.uint64), len(servers))
        values: dict[str, npt.ArrayLike] = {"server": np.tile(servers, count), "seq": seq, "gbe": spec.gbe,
                                            "nchan": spec.nchan, "nbeam": spec.nbeam, "nserver": spec.nserver,
                                            "chan0": spec.chan0}
        return pack_headers(values, count * len(servers))

    def batch(self, first_index: int, count: int) -> npt.NDArray[np.uint8]:
        """Packets of steps ``first_index .. first_index+count-1``, every server's per step; valid until the
        next call."""
        rows = count * len(self.spec.servers)
        size = rows * self.spec.frame_bytes
        if self._buffer.size < size:
            self._buffer = np.empty(size, dtype=np.uint8)
        out = self._buffer[:size].reshape(rows, self.spec.frame_bytes)
        words = self.header_words(first_index, count)
        out[:, :HEADER_BYTES].view("<u4")[:] = words
        write_pattern(out[:, HEADER_BYTES:].view("<f4"), keys_of(unpack_headers(words)))
        return out

    def frame_time(self, index: int) -> Fraction:
        """POSIX time of step ``index``."""
        return (self.first_seq + index) * SEQ_TIME
