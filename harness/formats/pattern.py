"""The ``pattern`` test payload shared by every format: each frame verifiable on its own.

Each 64-bit payload word is ``key ^ ROW[i]``, where ``key`` mixes (station, thread, second, frame
number) taken from the frame's own header and ``ROW`` is a fixed sequence; one XOR per 8 bytes, so
generation and verification both run at memory speed, and a frame moved, duplicated or corrupted
anywhere shows. A format decides which of its header fields feed the key (``FrameFormat.pattern_keys``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def pattern_keys(
    station: npt.ArrayLike, thread: npt.ArrayLike, seconds: npt.ArrayLike, frame_nr: npt.ArrayLike
) -> npt.NDArray[np.uint64]:
    """One 64-bit key per frame from (station, thread, seconds, frame number)."""
    packed = (
        (np.asarray(seconds, dtype=np.uint64) << np.uint64(34))
        | (np.asarray(frame_nr, dtype=np.uint64) << np.uint64(10))
        | np.asarray(thread, dtype=np.uint64)
    )
    salt = np.asarray(station, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    return _splitmix64(packed ^ salt)


@lru_cache(maxsize=16)
def pattern_row(payload_words: int) -> npt.NDArray[np.uint64]:
    """The fixed per-position sequence XORed with each frame's key (read-only, cached)."""
    row = _splitmix64(np.arange(1, payload_words + 1, dtype=np.uint64))
    row.flags.writeable = False
    return row


def write_pattern(payloads: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64]) -> None:
    """Fill a ``(n, payload_words)`` uint64 view with the pattern of each frame's key."""
    np.bitwise_xor(keys[:, None], pattern_row(payloads.shape[1])[None, :], out=payloads)
