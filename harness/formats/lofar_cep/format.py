"""LOFAR CEP behind the format layer's interface (16-byte little-endian header, no sync word, RSP boards as threads)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.lofar_cep.header import HEADER_BYTES, pack_headers, unpack_headers
from harness.formats.lofar_cep.timecode import (
    CLOCK_HZ,
    TICKS_PER_SAMPLE,
    RateError,
    sample_count,
    samples_per_second,
    to_header,
)
from harness.formats.pattern import pattern_keys


@dataclass(frozen=True)
class LofarCepFormat:
    """LOFAR CEP packets. Time fields: ``timestamp`` (Unix s) and ``sequence`` (the leading sample within it).

    The packet rate is the sample clock's over ``slices`` samples per packet (12 207.03125/s at 200 MHz and
    16): ``fps`` arguments are not used and ``frames_per_second`` refuses where the rate is not whole.
    The pattern key: station = ``station``, thread = ``rsp_id``, seconds = ``timestamp``, frame number =
    ``sequence``.
    """

    name: str = "lofar_cep"
    sync_word: int | None = None
    sync_word_index: int = 0
    clock_200: int = 1
    slices: int = 16

    @property
    def header_bytes(self) -> int:
        return HEADER_BYTES

    def frame_bytes(self, payload_bytes: int) -> int:
        if payload_bytes <= 0:
            raise RateError(f"a LOFAR CEP payload of {payload_bytes} bytes")
        return HEADER_BYTES + payload_bytes

    def frames_per_second(self, bits_per_second: Fraction, payload_bytes: int) -> int:
        rate = samples_per_second(self.clock_200) / self.slices
        if rate.denominator != 1:
            raise RateError(f"LOFAR CEP at {CLOCK_HZ[self.clock_200] // 10**6} MHz sends {float(rate)} packets/s of "
                            f"{self.slices} samples per RSP lane, fixed by its clock: no whole frame rate")
        return int(rate)

    def pack_headers(self, values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
        return pack_headers(values, n)

    def unpack_headers(self, words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
        return unpack_headers(words)

    def header_time(self, start: Fraction | int, index: npt.NDArray[np.int64], fps: int) -> dict[str, npt.NDArray[Any]]:
        """``timestamp`` and ``sequence`` of packets ``index`` from the first sample at or after ``start``."""
        first = math.ceil(Fraction(start) * samples_per_second(self.clock_200))
        return {**to_header(first + np.asarray(index, dtype=np.int64) * self.slices, self.clock_200),
                "clock_200": np.full(len(index), self.clock_200, dtype=np.int64)}

    def frame_time(self, fields: Mapping[str, npt.NDArray[Any]], fps: int, near: float) -> npt.NDArray[np.float64]:
        times = np.zeros(len(fields["timestamp"]), dtype=np.float64)
        for bit, clock in CLOCK_HZ.items():
            mine = fields["clock_200"] == bit
            samples = sample_count(fields["timestamp"][mine], fields["sequence"][mine], bit)
            times[mine] = samples.astype(np.float64) * TICKS_PER_SAMPLE / clock
        return times

    def pattern_keys(self, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
        return pattern_keys(fields["station"], fields["rsp_id"], fields["timestamp"],
                            np.asarray(fields["sequence"], dtype=np.int64) & 0xFFFFFF)


LOFAR_CEP = LofarCepFormat()
