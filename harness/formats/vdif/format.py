"""VDIF behind the format layer's interface: the existing header, rate, time and pattern code, unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.vdif.header import HEADER_BYTES, LEGACY_HEADER_BYTES, pack_headers, unpack_headers
from harness.formats.vdif.payload import pattern_keys
from harness.formats.vdif.rates import MAX_FRAME_NR, RateError
from harness.formats.vdif.timecode import epoch_start, ref_epoch_for, to_unix


@dataclass(frozen=True)
class VdifFormat:
    """VDIF with one header layout: ``edv`` 0, 1, 3 or 4, or ``None`` for legacy 16-byte headers.

    Time fields: ``ref_epoch``, ``seconds`` (since the epoch), ``frame_nr`` (within the second).
    """

    edv: int | None = 0
    name: str = "vdif"
    sync_word: int | None = None
    """None: a VDIF frame is found by its frame length field (EDV 1/3/4's word-5 sync is not for framing)."""
    sync_word_index: int = 0

    @property
    def header_bytes(self) -> int:
        return LEGACY_HEADER_BYTES if self.edv is None else HEADER_BYTES

    def frame_bytes(self, payload_bytes: int) -> int:
        if payload_bytes <= 0 or payload_bytes % 8:
            raise RateError(f"payload of {payload_bytes} bytes is not a positive multiple of 8")
        return payload_bytes + self.header_bytes

    def frames_per_second(self, bits_per_second: Fraction, payload_bytes: int) -> int:
        rate = Fraction(bits_per_second) / (8 * payload_bytes)
        if rate.denominator != 1:
            raise RateError(f"{float(bits_per_second) / 1e6:g} Mbit/s in {payload_bytes}-byte payloads gives "
                            f"{float(rate):.4f} frames/s, not a whole number")
        if rate > MAX_FRAME_NR + 1:
            raise RateError(f"{rate} frames/s exceeds the 24-bit frame number")
        return int(rate)

    def pack_headers(self, values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
        return pack_headers(values, n, self.edv)

    def unpack_headers(self, words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
        return dict(unpack_headers(words, self.edv))

    def header_time(self, start: Fraction | int, index: npt.NDArray[np.int64], fps: int) -> dict[str, npt.NDArray[Any]]:
        ref_epoch = ref_epoch_for(float(start))
        first = (Fraction(start) - epoch_start(ref_epoch)) * fps
        if first.denominator != 1:
            raise ValueError(f"start {float(start)} is not on a frame boundary at {fps} frames/s")
        seconds, frame_nr = np.divmod(int(first) + np.asarray(index, dtype=np.int64), fps)
        return {"ref_epoch": np.full(len(seconds), ref_epoch, dtype=np.int64), "seconds": seconds,
                "frame_nr": frame_nr}

    def frame_time(self, fields: Mapping[str, npt.NDArray[Any]], fps: int, near: float) -> npt.NDArray[np.float64]:
        return to_unix(fields["ref_epoch"], fields["seconds"], fields["frame_nr"], fps)

    def pattern_keys(self, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
        return pattern_keys(fields["station"], fields["thread_id"], fields["seconds"], fields["frame_nr"])


VDIF = VdifFormat()
"""VDIF with EDV 0 headers; ``dataclasses.replace(VDIF, edv=...)`` for the others."""
