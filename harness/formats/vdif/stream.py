"""A multi-thread VDIF stream: what it carries, and its frames generated in batches.

Threads interleave as a real multi-thread source does: every thread's frame k precedes any
thread's frame k+1. A batch is one ``(rows, datagram_bytes)`` uint8 array, written in place by
numpy (headers as a uint32 view, payloads as a uint64 view or rows copied from a pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from harness.formats.vdif.header import HeaderError, pack_headers, station_id
from harness.formats.vdif.payload import PayloadKind, Tone, pattern_keys, sample_pool, write_pattern
from harness.formats.vdif.rates import ObservingMode, RateError
from harness.formats.vdif.timecode import epoch_start, ref_epoch_for

SEQUENCE_BYTES = 8
"""The UDPS/VTP prefix: a little-endian uint64 sequence number before each frame."""

MAX_THREAD_ID = 1023


@dataclass(frozen=True)
class StreamSpec:
    """Everything that fixes the bytes of a VDIF stream but its start time."""

    fps: int
    """Frames per second per thread."""
    payload_bytes: int = 8192
    threads: tuple[int, ...] = (0,)
    bits: int = 2
    nchan: int = 1
    complex: bool = False
    station: int = 0
    edv: int | None = 0
    """Extended data version; ``None`` for legacy 16-byte headers."""
    version: int = 1
    payload: PayloadKind = PayloadKind.PATTERN
    tone: Tone | None = None
    udps: bool = False
    extra: dict[str, int] = field(default_factory=dict)
    """EDV-specific header fields (sample_rate, das_id, ...)."""

    def __post_init__(self) -> None:
        if self.payload_bytes <= 0 or self.payload_bytes % 8:
            raise HeaderError(f"payload of {self.payload_bytes} bytes is not a positive multiple of 8")
        if not self.threads or len(set(self.threads)) != len(self.threads):
            raise HeaderError(f"thread ids {self.threads} must be distinct and at least one")
        bad = [t for t in self.threads if not 0 <= t <= MAX_THREAD_ID]
        if bad:
            raise HeaderError(f"thread id {bad[0]} is outside 0..{MAX_THREAD_ID}")
        station_id(self.station)
        if self.fps <= 0:
            raise RateError(f"{self.fps} frames/s: need a positive whole number")
        if self.fps > (1 << 24):
            raise RateError(f"{self.fps} frames/s exceeds the 24-bit frame number")
        if self.payload is PayloadKind.TONE and self.tone is None:
            raise ValueError("a tone payload needs a tone frequency")
        if self.payload is not PayloadKind.PATTERN:
            self.mode.samples_per_frame  # noqa: B018 - refuses payloads without whole sample sets

    @property
    def header_bytes(self) -> int:
        return 16 if self.edv is None else 32

    @property
    def frame_bytes(self) -> int:
        return self.payload_bytes + self.header_bytes

    @property
    def datagram_bytes(self) -> int:
        return self.frame_bytes + (SEQUENCE_BYTES if self.udps else 0)

    @property
    def mode(self) -> ObservingMode:
        return ObservingMode.from_frame_rate(
            self.fps, payload_bytes=self.payload_bytes, nchan=self.nchan, bits=self.bits,
            complex=self.complex, legacy=self.edv is None,
        )

    @property
    def sample_rate(self) -> Fraction:
        return self.mode.sample_rate

    @property
    def frames_per_second_total(self) -> int:
        return self.fps * len(self.threads)

    @property
    def bits_per_second(self) -> float:
        """Bits on the wire per second (frames plus any sequence prefix), UDP/IP excluded."""
        return self.frames_per_second_total * self.datagram_bytes * 8.0

    @property
    def datagrams_per_frame(self) -> int:
        """One frame per datagram (what the sender's accounting asks of every format's stream)."""
        return 1

    def generator(self, start: Fraction | int, first_sequence: int = 0) -> FrameGenerator:
        return FrameGenerator(self, start, first_sequence)


class FrameGenerator:
    """Makes the datagrams of a stream that starts at ``start`` (a POSIX second, frame-aligned)."""

    def __init__(self, spec: StreamSpec, start: Fraction | int, first_sequence: int = 0) -> None:
        self.spec = spec
        self.ref_epoch = ref_epoch_for(float(start))
        offset = Fraction(start) - epoch_start(self.ref_epoch)
        first_frame = offset * spec.fps
        if first_frame.denominator != 1:
            raise ValueError(f"start {float(start)} is not on a frame boundary at {spec.fps} frames/s")
        self.first_frame = int(first_frame)
        """Frames since the epoch start (per thread) of frame index 0."""
        self.first_sequence = first_sequence
        self._threads = np.asarray(spec.threads, dtype=np.int64)
        self._pool = None
        if spec.payload is not PayloadKind.PATTERN:
            self._pool = sample_pool(
                payload_bytes=spec.payload_bytes, nchan=spec.nchan, bits=spec.bits,
                complex_=spec.complex, sample_rate=float(spec.sample_rate), tone=spec.tone,
            )
        self._buffer = np.empty(0, dtype=np.uint8)

    def batch(self, first_index: int, count: int,
              positions: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.uint8]:
        """Datagrams for frame indices ``first_index .. first_index+count-1`` of every thread, or only of the
        threads at ``positions`` (indices into the stream's threads, ascending): each made exactly as in the
        whole stream, with the sequence number it has there.

        The returned ``(count * threads, datagram_bytes)`` array reuses one buffer: it is valid
        until the next call.
        """
        spec = self.spec
        nthreads = len(self._threads)
        place = np.arange(nthreads, dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
        width = len(place)
        rows = count * width
        size = rows * spec.datagram_bytes
        if self._buffer.size < size:
            self._buffer = np.empty(size, dtype=np.uint8)
        out = self._buffer[:size].reshape(rows, spec.datagram_bytes)
        index = np.repeat(np.arange(first_index, first_index + count, dtype=np.int64), width)
        column = np.tile(place, count)
        thread = self._threads[column]
        absolute = self.first_frame + index
        seconds, frame_nr = np.divmod(absolute, spec.fps)
        prefix = 0
        if spec.udps:
            sequence = (self.first_sequence + index * nthreads + column).astype(np.uint64)
            out[:, :SEQUENCE_BYTES].view("<u8")[:, 0] = sequence
            prefix = SEQUENCE_BYTES
        values: dict[str, npt.ArrayLike] = {
            "seconds": seconds, "ref_epoch": self.ref_epoch, "frame_nr": frame_nr,
            "version": spec.version, "lg2_nchan": spec.nchan.bit_length() - 1,
            "frame_length": spec.frame_bytes // 8, "complex": int(spec.complex),
            "bits": spec.bits, "thread_id": thread, "station": spec.station, **spec.extra,
        }
        header_words = pack_headers(values, rows, spec.edv)
        frames = out[:, prefix:]
        frames[:, : spec.header_bytes].view("<u4")[:] = header_words
        payloads = frames[:, spec.header_bytes :]
        if self._pool is None:
            keys = pattern_keys(spec.station, thread, seconds, frame_nr)
            write_pattern(payloads.view("<u8"), keys)
        else:
            payloads[:] = self._pool[(absolute * nthreads + column) % len(self._pool)]
        return out

    def frame_time(self, index: int) -> Fraction:
        """POSIX time at which frame ``index`` (of every thread) starts."""
        return epoch_start(self.ref_epoch) + Fraction(self.first_frame + index, self.spec.fps)
