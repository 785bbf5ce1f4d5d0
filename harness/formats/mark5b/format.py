"""Mark5B behind the format layer's interface (fixed 10 016-byte frames, one stream, no threads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.mark5b.header import (
    FRAME_BYTES,
    HEADER_BYTES,
    PAYLOAD_BYTES,
    SYNC_WORD,
    pack_headers,
    unpack_headers,
)
from harness.formats.mark5b.timecode import RateError, frames_per_second, to_mark5b, to_unix, unwrap_frame_nr
from harness.formats.pattern import pattern_keys


@dataclass(frozen=True)
class Mark5bFormat:
    """Mark5B frames. Time fields: ``jday``, ``seconds`` (of day), ``fraction`` (0.1 ms), ``frame_nr`` (15 bits).

    The pattern key: station = the user bits, thread 0, seconds = ``jday`` * 86400 + seconds of day,
    and the 15-bit frame number as the header holds it.
    """

    name: str = "mark5b"
    sync_word: int | None = SYNC_WORD
    sync_word_index: int = 0

    @property
    def header_bytes(self) -> int:
        return HEADER_BYTES

    def frame_bytes(self, payload_bytes: int = PAYLOAD_BYTES) -> int:
        if payload_bytes != PAYLOAD_BYTES:
            raise RateError(f"a Mark5B payload is {PAYLOAD_BYTES} bytes, not {payload_bytes}")
        return FRAME_BYTES

    def frames_per_second(self, bits_per_second: Fraction, payload_bytes: int = PAYLOAD_BYTES) -> int:
        self.frame_bytes(payload_bytes)
        return frames_per_second(bits_per_second)

    def pack_headers(self, values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
        return pack_headers(values, n)

    def unpack_headers(self, words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
        return unpack_headers(words)

    def header_time(self, start: Fraction | int, index: npt.NDArray[np.int64], fps: int) -> dict[str, npt.NDArray[Any]]:
        return dict(to_mark5b(start, index, fps))

    def frame_time(self, fields: Mapping[str, npt.NDArray[Any]], fps: int, near: float) -> npt.NDArray[np.float64]:
        frame_nr = unwrap_frame_nr(fields["frame_nr"], fields["fraction"], fps)
        return to_unix(fields["jday"], fields["seconds"], frame_nr, fps, near)

    def pattern_keys(self, fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
        seconds = np.asarray(fields["jday"], dtype=np.int64) * 86400 + np.asarray(fields["seconds"], dtype=np.int64)
        return pattern_keys(fields["user"], 0, np.maximum(seconds, 0), fields["frame_nr"])


MARK5B = Mark5bFormat()
