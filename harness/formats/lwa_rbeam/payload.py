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


BLOCK_VALUES = 1 << 17
"""Values checked at a time (1 MiB of 64-bit products): the work stays in cache, no temporary per step."""


def first_wrong(payloads: npt.NDArray[Any], keys: npt.NDArray[np.uint64],
                check: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Per packet: -1 when every value's bits are the pattern's, the first wrong value's index when not,
    -2 when not checked (``check`` False). Bits, not values, are compared: -0.0 or a NaN is wrong too.

    The same values as ``pattern_values``, made in place a block of packets at a time."""
    result = np.full(len(keys), -2, dtype=np.int32)
    if not check.any():
        return result
    count = payloads.shape[1]
    row = pattern_row(count) | np.uint64(1)
    block = max(1, BLOCK_VALUES // max(1, count))
    mixed = np.empty((min(block, len(keys)), count), dtype=np.uint64)
    want = np.empty(mixed.shape, dtype=FLOAT)
    same = np.empty(mixed.shape, dtype=bool)
    for start in range(0, len(keys), block):
        stop = min(len(keys), start + block)
        n = stop - start
        product, values, agree = mixed[:n], want[:n], same[:n]
        with np.errstate(over="ignore"):
            np.multiply(keys[start:stop, None], row[None, :], out=product)
        np.right_shift(product, np.uint64(40), out=product)
        signed = product.view(np.int64)
        np.subtract(signed, 1 << 23, out=signed)
        values[:] = signed  # exact: |value| < 2**23
        np.equal(np.asarray(payloads[start:stop]).view("<u4"), values.view("<u4"), out=agree)
        good = agree.all(axis=1)
        result[start:stop] = np.where(good, -1, np.argmin(agree, axis=1))
    result[~check] = -2
    return result
