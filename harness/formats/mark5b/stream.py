"""A Mark5B stream (one stream of 10 016-byte frames) generated in batches, as the VDIF one is.

A batch is one ``(rows, datagram_bytes)`` uint8 array: the optional 8-byte UDPS sequence number
FiLa10G and jive5ab put before each datagram, then the frame bytes. A frame is larger than a 9000-byte
jumbo MTU, so over UDP it goes in ``parts`` equal datagrams (jive5ab's rule: the frame divided by the
smallest whole number that fits the MTU, 2 at MTU 9000), each with its own sequence number; a
recorder writing the datagrams' payloads back to back writes the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from harness.formats.mark5b.format import MARK5B
from harness.formats.mark5b.header import FRAME_BYTES, HEADER_BYTES, HeaderError, pack_headers, unpack_headers
from harness.formats.mark5b.timecode import WRAP, RateError, to_mark5b
from harness.formats.pattern import write_pattern

SEQUENCE_BYTES = 8
"""The UDPS prefix: a little-endian uint64 sequence number before each frame."""


@dataclass(frozen=True)
class Mark5bStreamSpec:
    """Everything that fixes the bytes of a Mark5B stream but its start time."""

    fps: int
    user: int = 0
    """The 16 user-specified bits (a station id, say)."""
    tvg: bool = False
    udps: bool = False
    parts: int = 1
    """Datagrams per frame (1, 2 or 4: equal parts of whole 8-byte words)."""

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise RateError(f"{self.fps} frames/s: need a positive whole number")
        if not 0 <= self.user <= 0xFFFF:
            raise HeaderError(f"user bits {self.user} are outside 0..65535")
        if self.parts < 1 or FRAME_BYTES % (8 * self.parts):
            raise HeaderError(f"a {FRAME_BYTES}-byte frame does not split into {self.parts} datagrams of whole "
                              "8-byte words (1, 2 or 4)")

    @property
    def threads(self) -> tuple[int, ...]:
        """One stream: thread 0 (as the checker counts it)."""
        return (0,)

    @property
    def datagrams_per_frame(self) -> int:
        return self.parts

    def generator(self, start: Fraction | int, first_sequence: int = 0) -> Mark5bGenerator:
        return Mark5bGenerator(self, start, first_sequence)

    @property
    def frame_bytes(self) -> int:
        return FRAME_BYTES

    @property
    def datagram_bytes(self) -> int:
        return FRAME_BYTES // self.parts + (SEQUENCE_BYTES if self.udps else 0)

    @property
    def bits_per_second(self) -> float:
        """Bits on the wire per second (frames plus any sequence prefixes), UDP/IP excluded."""
        return self.fps * self.parts * self.datagram_bytes * 8.0


class Mark5bGenerator:
    """Makes the datagrams of a stream whose frame 0 starts at ``start`` (a POSIX time, frame-aligned)."""

    def __init__(self, spec: Mark5bStreamSpec, start: Fraction | int, first_sequence: int = 0) -> None:
        self.spec = spec
        self.start = Fraction(start)
        to_mark5b(self.start, np.zeros(1, dtype=np.int64), spec.fps)  # refuses a start off the frame grid
        self.first_sequence = first_sequence
        self._buffer = np.empty(0, dtype=np.uint8)
        self._frames = np.empty(0, dtype=np.uint8)

    def header_words(self, first_index: int, count: int) -> npt.NDArray[np.uint32]:
        index = np.arange(first_index, first_index + count, dtype=np.int64)
        values: dict[str, npt.ArrayLike] = {**to_mark5b(self.start, index, self.spec.fps),
                                            "user": self.spec.user, "tvg": int(self.spec.tvg)}
        return pack_headers(values, count)

    def frames(self, first_index: int, count: int) -> npt.NDArray[np.uint8]:
        """Frames ``first_index .. first_index+count-1`` as ``(count, 10016)``; valid until the next call."""
        size = count * FRAME_BYTES
        if self._frames.size < size:
            self._frames = np.empty(size, dtype=np.uint8)
        frames = self._frames[:size].reshape(count, FRAME_BYTES)
        words = self.header_words(first_index, count)
        frames[:, :HEADER_BYTES].view("<u4")[:] = words
        write_pattern(frames[:, HEADER_BYTES:].view("<u8"), MARK5B.pattern_keys(unpack_headers(words)))
        return frames

    def batch(self, first_index: int, count: int) -> npt.NDArray[np.uint8]:
        """Datagrams for frames ``first_index .. first_index+count-1`` (``parts`` per frame, in order), as
        ``(count * parts, datagram_bytes)``; valid until the next call."""
        spec = self.spec
        frames = self.frames(first_index, count)
        if not spec.udps and spec.parts == 1:
            return frames
        rows = count * spec.parts
        size = rows * spec.datagram_bytes
        if self._buffer.size < size:
            self._buffer = np.empty(size, dtype=np.uint8)
        out = self._buffer[:size].reshape(rows, spec.datagram_bytes)
        prefix = 0
        if spec.udps:
            sequence = self.first_sequence + first_index * spec.parts + np.arange(rows, dtype=np.uint64)
            out[:, :SEQUENCE_BYTES].view("<u8")[:, 0] = sequence
            prefix = SEQUENCE_BYTES
        out[:, prefix:] = frames.reshape(rows, FRAME_BYTES // spec.parts)
        return out

    def frame_time(self, index: int) -> Fraction:
        """POSIX time at which frame ``index`` starts."""
        return self.start + Fraction(index, self.spec.fps)


__all__ = ["SEQUENCE_BYTES", "WRAP", "Mark5bGenerator", "Mark5bStreamSpec"]
