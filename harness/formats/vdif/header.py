"""VDIF header layout as a table, and vectorised pack/unpack of many headers at once.

The layout follows VDIF 1.1.1 (and baseband's ``HeaderParser`` tables): each field is a
(word, bit, width) triple over little-endian 32-bit words. Packing and unpacking work on a
``(n, nwords)`` ``uint32`` array so that a million headers cost a few numpy passes, not a
Python loop per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HEADER_BYTES = 32
LEGACY_HEADER_BYTES = 16
SYNC_WORD = 0xACABFEED
"""Sync word in word 5 of EDV 1, 3 and 4 headers."""


@dataclass(frozen=True)
class Field:
    """One header field: ``width`` bits starting at ``bit`` of 32-bit ``word``.

    A 64-bit field spans ``word`` (low half) and ``word + 1`` (high half).
    """

    name: str
    word: int
    bit: int
    width: int

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


BASE_FIELDS: tuple[Field, ...] = (
    Field("invalid", 0, 31, 1),
    Field("legacy", 0, 30, 1),
    Field("seconds", 0, 0, 30),
    Field("unassigned", 1, 30, 2),
    Field("ref_epoch", 1, 24, 6),
    Field("frame_nr", 1, 0, 24),
    Field("version", 2, 29, 3),
    Field("lg2_nchan", 2, 24, 5),
    Field("frame_length", 2, 0, 24),  # in 8-byte units, header included
    Field("complex", 3, 31, 1),
    Field("bits_m1", 3, 26, 5),  # bits per sample minus one
    Field("thread_id", 3, 16, 10),
    Field("station", 3, 0, 16),
)
"""Words 0-3, shared by legacy (16-byte) and standard (32-byte) headers."""

EDV_FIELD = Field("edv", 4, 24, 8)

_SAMPLE_RATE_FIELDS = (
    Field("sampling_unit", 4, 23, 1),  # 0 = kHz, 1 = MHz
    Field("sample_rate", 4, 0, 23),
    Field("sync", 5, 0, 32),
)

EDV_FIELDS: dict[int, tuple[Field, ...]] = {
    0: (),
    1: (*_SAMPLE_RATE_FIELDS, Field("das_id", 6, 0, 64)),
    3: (
        *_SAMPLE_RATE_FIELDS,
        Field("loif_tuning", 6, 0, 32),
        Field("edv3_unassigned", 7, 28, 4),
        Field("dbe_unit", 7, 24, 4),
        Field("if_nr", 7, 20, 4),
        Field("subband", 7, 17, 3),
        Field("sideband", 7, 16, 1),
        Field("major_rev", 7, 12, 4),
        Field("minor_rev", 7, 8, 4),
        Field("personality", 7, 0, 8),
    ),
    4: (
        Field("validity_bits", 4, 16, 8),
        Field("edv4_unassigned", 4, 0, 16),
        Field("sync", 5, 0, 32),
        Field("validity_mask", 6, 0, 64),
    ),
}
"""Words 4-7 per extended data version (EDV 0: all four words zero)."""

EDV_SYNC: dict[int, int] = {1: SYNC_WORD, 3: SYNC_WORD, 4: SYNC_WORD}


class HeaderError(ValueError):
    """A header field value that does not fit its layout."""


def fields_for(edv: int | None) -> tuple[Field, ...]:
    """All fields of a header with this EDV (``None`` for a legacy 16-byte header)."""
    if edv is None:
        return BASE_FIELDS
    if edv not in EDV_FIELDS:
        raise HeaderError(f"EDV {edv} has no layout here (known: {sorted(EDV_FIELDS)})")
    return (*BASE_FIELDS, EDV_FIELD, *EDV_FIELDS[edv])


def header_words(edv: int | None) -> int:
    return 4 if edv is None else 8


def pack_headers(
    values: Mapping[str, npt.ArrayLike], n: int, edv: int | None = 0
) -> npt.NDArray[np.uint32]:
    """Pack ``n`` headers into a ``(n, 4|8)`` uint32 array.

    ``values`` maps field names to scalars or length-``n`` arrays; missing fields are zero
    except ``legacy`` (set from ``edv is None``), ``edv`` and the EDV sync word.
    ``bits`` may be given instead of ``bits_m1``. Values that do not fit raise HeaderError.
    """
    values = dict(values)
    if "bits" in values:
        values["bits_m1"] = np.asarray(values.pop("bits")) - 1
    values.setdefault("legacy", 1 if edv is None else 0)
    if edv is not None:
        values.setdefault("edv", edv)
        if edv in EDV_SYNC:
            values.setdefault("sync", EDV_SYNC[edv])
    layout = fields_for(edv)
    known = {f.name for f in layout}
    unknown = set(values) - known
    if unknown:
        raise HeaderError(f"fields {sorted(unknown)} are not in a header with EDV {edv}")
    words = np.zeros((n, header_words(edv)), dtype=np.uint32)
    for field in layout:
        if field.name not in values:
            continue
        column = np.broadcast_to(np.asarray(values[field.name], dtype=np.int64), (n,))
        if field.width == 64:
            column64 = np.broadcast_to(np.asarray(values[field.name], dtype=np.uint64), (n,))
            words[:, field.word] = (column64 & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            words[:, field.word + 1] = (column64 >> np.uint64(32)).astype(np.uint32)
            continue
        if n and (column.min() < 0 or column.max() > field.mask):
            bad = column[(column < 0) | (column > field.mask)][0]
            raise HeaderError(f"{field.name}={bad} does not fit in {field.width} bits")
        words[:, field.word] |= (column.astype(np.uint32) & np.uint32(field.mask)) << np.uint32(
            field.bit
        )
    return words


def unpack_headers(
    words: npt.NDArray[np.uint32], edv: int | None = 0
) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.uint64]]:
    """Unpack a ``(n, >=4)`` uint32 array of headers into one array per field.

    With ``edv=None`` only words 0-3 are read (legacy headers, or a first pass that does not
    yet know the EDV); otherwise the EDV field and that EDV's words 4-7 fields too. Adds the
    derived ``bits`` and ``frame_bytes`` columns.
    """
    layout = fields_for(edv)
    if words.ndim != 2 or words.shape[1] < header_words(edv):
        raise HeaderError(f"need (n, {header_words(edv)}) header words, got {words.shape}")
    fields: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.uint64]] = {}
    for field in layout:
        if field.width == 64:
            low = words[:, field.word].astype(np.uint64)
            high = words[:, field.word + 1].astype(np.uint64)
            fields[field.name] = low | (high << np.uint64(32))
            continue
        fields[field.name] = ((words[:, field.word] >> np.uint32(field.bit)) & np.uint32(field.mask)).astype(
            np.int64
        )
    fields["bits"] = fields["bits_m1"] + 1
    fields["frame_bytes"] = fields["frame_length"] * 8
    return fields


def headers_view(frames: npt.NDArray[np.uint8], frame_bytes: int) -> npt.NDArray[np.uint32]:
    """A zero-copy ``(n, frame_bytes // 4)`` uint32 view of back-to-back frames."""
    if frame_bytes % 8:
        raise HeaderError(f"frame size {frame_bytes} is not a multiple of 8 bytes")
    count = frames.size // frame_bytes
    return frames[: count * frame_bytes].view(np.uint32).reshape(count, frame_bytes // 4)


def station_id(station: str | int) -> int:
    """Station id from two ASCII characters (``'Mk'``) or a number (0..65535)."""
    if isinstance(station, str):
        if station.isdigit():
            value = int(station)
        elif len(station) == 2 and all(32 <= ord(c) < 127 for c in station):
            value = (ord(station[0]) << 8) | ord(station[1])
        else:
            raise HeaderError(f"station {station!r} is neither two ASCII characters nor a number")
    else:
        value = int(station)
    if not 0 <= value <= 0xFFFF:
        raise HeaderError(f"station id {value} is outside 0..65535")
    return value


def station_name(value: int) -> str:
    """Two ASCII characters when the id is printable with a first byte 0x30-0x7F, else the number."""
    high, low = value >> 8, value & 0xFF
    if 0x30 <= high < 0x7F and 32 <= low < 0x7F:
        return chr(high) + chr(low)
    return str(value)
