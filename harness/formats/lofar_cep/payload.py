"""LOFAR CEP payload samples: beamlet-major, then time sample, then (Xr, Xi, Yr, Yi), of 16, 8 or 4 bits.

16- and 8-bit samples are little-endian two's-complement integers. In 4-bit mode two samples share a
byte; we take the low nibble first (Xr low, Xi high), two's complement: that order is an assumption
(udpPacketManager's own notes leave the 4-bit layout open), to be checked against station data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.formats.lofar_cep.header import HeaderError, payload_bytes


def decode(payloads: npt.NDArray[np.uint8], beamlets: int, slices: int, bits: int) -> npt.NDArray[np.complex64]:
    """``(n, payload bytes)`` uint8 -> ``(n, beamlets, slices, 2)`` complex64 (X, Y)."""
    n = len(payloads)
    size = payload_bytes(beamlets, slices, bits)
    if payloads.shape[1] < size:
        raise HeaderError(f"payloads of {payloads.shape[1]} bytes, {beamlets} x {slices} x {bits}-bit need {size}")
    raw = np.ascontiguousarray(payloads[:, :size])
    if bits == 16:
        values = raw.view("<i2").astype(np.float32)
    elif bits == 8:
        values = raw.view(np.int8).astype(np.float32)
    else:
        low = (raw & 0x0F).astype(np.int8)
        high = (raw >> 4).astype(np.int8)
        nibbles = np.stack([low, high], axis=-1).reshape(n, -1)
        values = np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.float32)
    quads = values.reshape(n, beamlets, slices, 2, 2)
    return (quads[..., 0] + 1j * quads[..., 1]).astype(np.complex64)


def encode(samples: npt.NDArray[np.complex64], bits: int) -> npt.NDArray[np.uint8]:
    """The inverse of ``decode`` for integer-valued samples within the bit mode's range (others refused)."""
    n = len(samples)
    parts = np.stack([samples.real, samples.imag], axis=-1).reshape(n, -1)
    limit = 1 << (bits - 1)
    if bits not in (4, 8, 16):
        raise HeaderError(f"{bits}-bit samples: LOFAR CEP has 4, 8 or 16")
    if np.any(parts != np.rint(parts)) or np.any(parts < -limit) or np.any(parts >= limit):
        raise HeaderError(f"samples must be integers in {-limit}..{limit - 1} for {bits}-bit mode")
    whole = parts.astype(np.int64)
    if bits == 16:
        return whole.astype("<i2").view(np.uint8).reshape(n, -1)
    if bits == 8:
        return whole.astype(np.int8).view(np.uint8).reshape(n, -1)
    nibbles = (whole & 0x0F).astype(np.uint8).reshape(n, -1, 2)
    return (nibbles[..., 0] | (nibbles[..., 1] << 4)).astype(np.uint8)
