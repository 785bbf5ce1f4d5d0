"""LOFAR CEP (RSP beamlet) header layout as a table, and vectorised pack/unpack.

Sixteen little-endian bytes (LOFAR Station Cookbook p. 32; REALTA user's guide): the RSP version
(3), source info (RSP id, an unused bit, the RSP error bit, the clock bit: 1 = 200 MHz, 0 = 160 MHz),
the bit mode (0: 16-bit, 1: 8-bit, 2: 4-bit, 3: an error) and its unused bits, a config byte, the
station id, beamlets and time samples in the packet, a Unix timestamp and the sequence of the
packet's leading time sample within its second ("block sequence").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER_BYTES = 16
HEADER_WORDS = 4
BITS_OF_MODE = {0: 16, 1: 8, 2: 4}
"""Bit mode field -> bits per real sample (3 is an error)."""
MODE_OF_BITS = {bits: mode for mode, bits in BITS_OF_MODE.items()}
SAMPLES_PER_SLICE = 4
"""Xr, Xi, Yr, Yi per beamlet per time sample."""


class HeaderError(ValueError):
    """A LOFAR CEP header field value that does not fit its layout."""


@dataclass(frozen=True)
class Field:
    """One header field: ``width`` bits from bit ``bit`` of the little-endian ``size``-byte integer at ``offset``."""

    name: str
    offset: int
    size: int
    bit: int = 0
    width: int | None = None

    @property
    def bits(self) -> int:
        return 8 * self.size if self.width is None else self.width

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


FIELDS: tuple[Field, ...] = (
    Field("version", 0, 1),
    Field("rsp_id", 1, 1, 0, 5),
    Field("source_unused", 1, 1, 5, 1),
    Field("error", 1, 1, 6, 1),
    Field("clock_200", 1, 1, 7, 1),
    Field("bit_mode", 2, 1, 0, 2),
    Field("mode_unused", 2, 1, 2, 6),
    Field("config", 3, 1),
    Field("station", 4, 2),
    Field("beamlets", 6, 1),
    Field("slices", 7, 1),
    Field("timestamp", 8, 4),
    Field("sequence", 12, 4),
)
BY_NAME = {f.name: f for f in FIELDS}


def payload_bytes(beamlets: int, slices: int, bits: int) -> int:
    """Bytes of a payload of ``beamlets`` x ``slices`` x (Xr, Xi, Yr, Yi) samples of ``bits`` bits."""
    if bits not in MODE_OF_BITS:
        raise HeaderError(f"{bits}-bit samples: LOFAR CEP has 4, 8 or 16")
    return beamlets * slices * SAMPLES_PER_SLICE * bits // 8


def _bytes_view(words: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(words[:, :HEADER_WORDS]).astype("<u4", copy=False).view(np.uint8)


def pack_headers(values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
    """Pack ``n`` headers into a ``(n, 4)`` uint32 array (the 16 bytes as little-endian words).

    ``values`` maps field names to scalars or length-``n`` arrays; ``bits`` (4, 8, 16) may stand for
    ``bit_mode``; missing fields are 0 but ``version`` (3). Values that do not fit raise.
    """
    values = {"version": 3, **values}
    if "bits" in values:
        bits = np.asarray(values.pop("bits"), dtype=np.int64)
        if not np.isin(bits, list(MODE_OF_BITS)).all():
            raise HeaderError(f"bits {bits}: LOFAR CEP has 4, 8 or 16")
        values["bit_mode"] = np.vectorize(MODE_OF_BITS.__getitem__, otypes=[np.int64])(bits)
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise HeaderError(f"fields {sorted(unknown)} are not in a LOFAR CEP header")
    out = np.zeros((n, HEADER_BYTES), dtype=np.uint8)
    for field in FIELDS:
        if field.name not in values:
            continue
        column = np.broadcast_to(np.asarray(values[field.name], dtype=np.int64), (n,))
        if n and (column.min() < 0 or column.max() > field.mask):
            bad = column[(column < 0) | (column > field.mask)][0]
            raise HeaderError(f"{field.name}={bad} does not fit in {field.bits} bits")
        shifted = column.astype(np.uint64) << np.uint64(field.bit)
        for k in range(field.size):
            out[:, field.offset + k] |= ((shifted >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.uint8)
    return out.view("<u4")


def unpack_headers(words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
    """Unpack a ``(n, >= 4)`` uint32 array into one int64 column per field, plus ``bits`` (-1 for mode 3)."""
    if words.ndim != 2 or words.shape[1] < HEADER_WORDS:
        raise HeaderError(f"need (n, {HEADER_WORDS}) header words, got {words.shape}")
    raw = _bytes_view(words).reshape(len(words), HEADER_BYTES).astype(np.int64)
    fields: dict[str, npt.NDArray[Any]] = {}
    for field in FIELDS:
        whole = np.zeros(len(words), dtype=np.int64)
        for k in range(field.size):
            whole |= raw[:, field.offset + k] << (8 * k)
        fields[field.name] = (whole >> field.bit) & field.mask
    fields["bits"] = np.asarray((16, 8, 4, -1), dtype=np.int64)[fields["bit_mode"]]
    return fields
