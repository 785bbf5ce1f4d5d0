"""Mark5B header layout as a table, its BCD time code and CRC-16, and vectorised pack/unpack.

Four little-endian 32-bit words (Mark5B users manual p. 15; baseband's ``Mark5BHeader`` table):
a sync word, user-specified bits, the internal test-vector (TVG) flag, a 15-bit frame number within
the second, and the BCD time code - truncated MJD ``jjj``, seconds of day ``sssss``, fraction
``.ssss`` (0.1 ms) - followed by the CRC-16 (polynomial 0x18005) of those 48 time-code bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER_BYTES = 16
HEADER_WORDS = 4
PAYLOAD_BYTES = 10000
FRAME_BYTES = HEADER_BYTES + PAYLOAD_BYTES
SYNC_WORD = 0xABADDEED
CRC_POLYNOMIAL = 0x18005
"""x^16 + x^15 + x^2 + 1 (CRC-16-IBM), as baseband and jive5ab compute it over the time code."""
FRAME_NR_BITS = 15


class HeaderError(ValueError):
    """A Mark5B header field value that does not fit its layout."""


@dataclass(frozen=True)
class Field:
    """One header field: ``width`` bits starting at ``bit`` of 32-bit ``word``; ``bcd`` digits if BCD."""

    name: str
    word: int
    bit: int
    width: int
    bcd: bool = False

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


FIELDS: tuple[Field, ...] = (
    Field("sync", 0, 0, 32),
    Field("user", 1, 16, 16),
    Field("tvg", 1, 15, 1),
    Field("frame_nr", 1, 0, FRAME_NR_BITS),
    Field("bcd_jday", 2, 20, 12, bcd=True),
    Field("bcd_seconds", 2, 0, 20, bcd=True),
    Field("bcd_fraction", 3, 16, 16, bcd=True),
    Field("crc", 3, 0, 16),
)
BY_NAME = {f.name: f for f in FIELDS}
TIME_CODE = ("bcd_jday", "bcd_seconds", "bcd_fraction")
"""The BCD fields, in the order their 48 bits enter the CRC (most significant first)."""


def bcd_encode(values: npt.ArrayLike, digits: int) -> npt.NDArray[np.int64]:
    """Decimal numbers -> BCD, one 4-bit digit per decimal digit (refused if more than ``digits``)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < 0 or v.max() >= 10**digits):
        bad = v[(v < 0) | (v >= 10**digits)].flat[0]
        raise HeaderError(f"{bad} does not fit in {digits} BCD digits")
    out = np.zeros(v.shape, dtype=np.int64)
    for d in range(digits):
        out |= ((v // 10**d) % 10) << (4 * d)
    return out


def bcd_decode(values: npt.ArrayLike, digits: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """BCD -> (decimal numbers, valid): a nibble above 9 makes a value invalid (its number is then -1)."""
    v = np.asarray(values, dtype=np.int64)
    out = np.zeros(v.shape, dtype=np.int64)
    valid = np.ones(v.shape, dtype=bool)
    for d in range(digits):
        nibble = (v >> (4 * d)) & 0xF
        valid &= nibble <= 9
        out += nibble * 10**d
    return np.where(valid, out, -1), valid


def _crc_table() -> npt.NDArray[np.uint16]:
    poly = CRC_POLYNOMIAL & 0xFFFF
    table = np.zeros(256, dtype=np.uint16)
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & 0x8000 else crc << 1
        table[byte] = crc & 0xFFFF
    return table


_CRC_TABLE = _crc_table()


def time_code_crc(
    bcd_jday: npt.ArrayLike, bcd_seconds: npt.ArrayLike, bcd_fraction: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """CRC-16 of the 48-bit time code ``jjj sssss ssss``, most significant bit first, zero initial value.

    baseband's ``crc16((jday << 36) | (seconds << 16) | fraction)``: the remainder of the code times
    x^16 divided by 0x18005; here a byte table, six numpy passes for any number of headers.
    """
    code = (np.asarray(bcd_jday, dtype=np.int64) << 36) | (np.asarray(bcd_seconds, dtype=np.int64) << 16) | (
        np.asarray(bcd_fraction, dtype=np.int64))
    crc = np.zeros(code.shape, dtype=np.int64)
    for shift in (40, 32, 24, 16, 8, 0):
        byte = (code >> shift) & 0xFF
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF].astype(np.int64)
    return crc


def pack_headers(values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
    """Pack ``n`` headers into a ``(n, 4)`` uint32 array.

    ``values`` maps field names to scalars or length-``n`` arrays. The time code may be given as
    numbers (``jday`` 0-999, ``seconds`` of day, ``fraction`` in 0.1 ms) instead of its BCD fields.
    ``sync`` defaults to 0xABADDEED and ``crc`` to the time code's CRC. Values that do not fit raise.
    """
    values = dict(values)
    for name, bcd_name in (("jday", "bcd_jday"), ("seconds", "bcd_seconds"), ("fraction", "bcd_fraction")):
        if name in values:
            values[bcd_name] = bcd_encode(values.pop(name), BY_NAME[bcd_name].width // 4)
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise HeaderError(f"fields {sorted(unknown)} are not in a Mark5B header")
    values.setdefault("sync", SYNC_WORD)
    if "crc" not in values:
        values["crc"] = time_code_crc(*(values.get(name, 0) for name in TIME_CODE))
    words = np.zeros((n, HEADER_WORDS), dtype=np.uint32)
    for field in FIELDS:
        if field.name not in values:
            continue
        column = np.broadcast_to(np.asarray(values[field.name], dtype=np.int64), (n,))
        if n and (column.min() < 0 or column.max() > field.mask):
            bad = column[(column < 0) | (column > field.mask)][0]
            raise HeaderError(f"{field.name}={bad} does not fit in {field.width} bits")
        words[:, field.word] |= (column.astype(np.uint32) & np.uint32(field.mask)) << np.uint32(field.bit)
    return words


def unpack_headers(words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
    """Unpack a ``(n, >= 4)`` uint32 array into one int64 column per field, plus the decoded time code.

    Adds ``jday``, ``seconds``, ``fraction`` (-1 where a BCD digit is above 9), ``bcd_ok`` (all
    three valid), ``sync_ok`` and ``crc_ok`` (the stored CRC equals the time code's).
    """
    if words.ndim != 2 or words.shape[1] < HEADER_WORDS:
        raise HeaderError(f"need (n, {HEADER_WORDS}) header words, got {words.shape}")
    fields: dict[str, npt.NDArray[Any]] = {}
    for field in FIELDS:
        fields[field.name] = ((words[:, field.word] >> np.uint32(field.bit)) & np.uint32(field.mask)).astype(np.int64)
    bcd_ok = np.ones(len(words), dtype=bool)
    for name in TIME_CODE:
        fields[name[4:]], ok = bcd_decode(fields[name], BY_NAME[name].width // 4)
        bcd_ok &= ok
    fields["bcd_ok"] = bcd_ok
    fields["sync_ok"] = fields["sync"] == SYNC_WORD
    fields["crc_ok"] = fields["crc"] == time_code_crc(*(fields[name] for name in TIME_CODE))
    return fields
