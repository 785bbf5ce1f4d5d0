"""LWA RBeam's test-pattern payload: float32 values each packet can be verified by on its own.

Value ``i`` of a packet is the integer ``((key * (ROW[i] | 1)) >> 40) - 2**23`` as float32 (the product
mod 2**64, so every key bit reaches the top 24), where ``key``
mixes (chan0, server, seq) from the packet's own header (``formats.pattern``) and ``ROW`` is the
shared fixed sequence. A 24-bit signed integer is exact in float32, so the values survive any exact
float32 round trip and a checker compares the payload's bits with the expected values' bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.formats.pattern import pattern_keys, pattern_row

FLOAT = np.dtype("<f4")


def keys_of(fields: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.uint64]:
    """The pattern key of each packet: station = chan0, thread = server, seq split high/low 24 bits."""
    seq = np.asarray(fields["seq"], dtype=np.uint64)
    return pattern_keys(fields["chan0"], fields["server"], seq >> np.uint64(24), seq & np.uint64(0xFFFFFF))


def pattern_values(keys: npt.NDArray[np.uint64], count: int) -> npt.NDArray[np.float32]:
    """``(len(keys), count)`` float32 pattern values."""
    with np.errstate(over="ignore"):
        mixed = (keys[:, None] * (pattern_row(count) | np.uint64(1))[None, :]) >> np.uint64(40)
    return (mixed.astype(np.int64) - (1 << 23)).astype(FLOAT)


def write_pattern(payloads: npt.NDArray[np.float32], keys: npt.NDArray[np.uint64]) -> None:
    """Fill a ``(n, values)`` little-endian float32 view with each packet's pattern."""
    payloads[:] = pattern_values(keys, payloads.shape[1])


def first_wrong(payloads: npt.NDArray[Any], keys: npt.NDArray[np.uint64],
                check: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Per packet: -1 when every value's bits are the pattern's, the first wrong value's index when not,
    -2 when not checked (``check`` False). Bits, not values, are compared: -0.0 or a NaN is wrong too."""
    result = np.full(len(keys), -2, dtype=np.int32)
    if not check.any():
        return result
    got = np.asarray(payloads[check]).view("<u4")
    want = pattern_values(keys[check], payloads.shape[1]).view("<u4")
    same = got == want
    good = same.all(axis=1)
    result[np.flatnonzero(check)] = np.where(good, -1, np.argmin(same, axis=1)).astype(np.int32)
    return result
