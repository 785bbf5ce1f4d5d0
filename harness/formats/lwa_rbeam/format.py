"""LWA RBeam behind the format layer's interface (16-byte big-endian header, no sync word, servers as threads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.lwa_rbeam.header import HEADER_BYTES, POLARISATIONS, VALUE_BYTES, pack_headers, unpack_headers
from harness.formats.lwa_rbeam.payload import keys_of
from harness.formats.lwa_rbeam.timecode import SEQ_TIME, RateError, first_seq_after, seq_times


@dataclass(frozen=True)
class LwaRbeamFormat:
    """LWA RBeam packets. Time field: ``seq`` (1-based, ``seq * 8192 / 196e6`` s); each ``server`` a thread.

    The packet rate is the sequence clock's, 196e6 / 8192 per server, whatever the payload: the ``fps``
    arguments of the interface are not used, and ``frames_per_second`` refuses (the rate is not whole).
    The pattern key: station = ``chan0``, thread = ``server``, the 64-bit ``seq`` (``lwa_rbeam.payload``).
    """

    name: str = "lwa_rbeam"
    sync_word: int | None = None
    sync_word_index: int = 0

    @property
    def header_bytes(self) -> int:
        return HEADER_BYTES

    def frame_bytes(self, payload_bytes: int) -> int:
        if payload_bytes <= 0 or payload_bytes % (POLARISATIONS * VALUE_BYTES):
            raise RateError(f"an LWA RBeam payload is beams x channels x 2 float32, not {payload_bytes} bytes")
        return HEADER_BYTES + payload_bytes

    def frames_per_second(self, bits_per_second: Fraction, payload_bytes: int) -> int:
        raise RateError(f"LWA RBeam sends one packet per server every {SEQ_TIME} s (23925.78125/s), fixed by "
                        "its sequence clock: no whole frame rate, and the bit rate follows from the channels")

    def pack_headers(self, values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
        return pack_headers(values, n)

    def unpack_headers(self, words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
        return unpack_headers(words)

    def header_time(self, start: Fraction | int, index: npt.NDArray[np.int64], fps: int) -> dict[str, npt.NDArray[Any]]:
        """``seq`` of packets ``index`` after the first sequence step at or after ``start``."""
        return {"seq": np.uint64(first_seq_after(start)) + np.asarray(index, dtype=np.uint64)}

    def frame_time(self, fields: Mapping[str, npt.NDArray[Any]], fps: int, near: float) -> npt.NDArray[np.float64]:
        return seq_times(fields["seq"])

    def pattern_keys(self, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
        return keys_of(fields)


LWA_RBEAM = LwaRbeamFormat()
