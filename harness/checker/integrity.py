"""Payload integrity of ``pattern`` streams: every payload word is what the sender wrote.

The sender fills each frame's 64-bit payload words with ``key ^ ROW[i]``, the key mixing
(station, thread, second, frame number) from the frame's own header (formats.pattern; each format says
which of its fields make the key). So a
frame is checked on its own: XOR with the row, compare with the key. Done a block of frames at a
time over the mapped file, so the temporary stays in cache and the whole check runs near memory
speed; no frame is copied.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.pattern import pattern_row

BLOCK_BYTES = 1 << 20
NOT_CHECKED = -2
RIGHT = -1


def payload_view(buffer: mmap.mmap, offset: int, count: int, frame_bytes: int, header_bytes: int,
                 dtype: str = "<u8") -> npt.NDArray[Any]:
    """Zero-copy ``(count, payload words)`` view of the payloads of back-to-back frames."""
    itemsize = np.dtype(dtype).itemsize
    words = (frame_bytes - header_bytes) // itemsize
    return np.ndarray((count, words), dtype=dtype, buffer=buffer, offset=offset + header_bytes,
                      strides=(frame_bytes, itemsize))


def check_pattern(payloads: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64],
                  check: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Per frame: -1 when the payload is the pattern of its key (``FrameFormat.pattern_keys`` of its header),
    the first wrong word's index when not, -2 when not checked."""
    n, nwords = payloads.shape
    result = np.full(n, NOT_CHECKED, dtype=np.int32)
    if not check.any():
        return result
    row = pattern_row(nwords)
    block = max(1, BLOCK_BYTES // max(1, nwords * 8))
    scratch = np.empty((min(block, n), nwords), dtype=np.uint64)
    agree = np.empty((min(block, n), nwords), dtype=bool)
    for start in range(0, n, block):
        stop = min(n, start + block)
        work = scratch[: stop - start]
        same = agree[: stop - start]
        np.bitwise_xor(payloads[start:stop], row, out=work)
        np.equal(work, keys[start:stop, None], out=same)
        good = same.all(axis=1)
        result[start:stop] = RIGHT
        bad = np.flatnonzero(~good)
        if len(bad):
            result[start + bad] = np.argmin(same[bad], axis=1)
    result[~check] = NOT_CHECKED
    return result
