"""LWA RBeam header layout as a table, and vectorised pack/unpack.

Sixteen big-endian bytes (LWA ``dr_vbeam.py`` "Data Format"): ``server`` (1-based), ``gbe`` (unused),
``nchan``, ``nbeam`` (always 1), ``nserver`` (always 1), ``chan0`` (the first channel in the packet)
and a 1-based 64-bit ``seq`` whose time is ``seq * 8192 / 196e6`` s. There is no sync word. The
payload is little-endian float32, beam x channel x polarisation (X, Y).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER_BYTES = 16
HEADER_WORDS = 4
POLARISATIONS = 2
VALUE_BYTES = 4
"""One little-endian float32 per (beam, channel, polarisation)."""


class HeaderError(ValueError):
    """An LWA RBeam header field value that does not fit its layout, or a shape it cannot hold."""


@dataclass(frozen=True)
class Field:
    """One header field: ``size`` bytes, big-endian, from byte ``offset``."""

    name: str
    offset: int
    size: int

    @property
    def dtype(self) -> str:
        return "u1" if self.size == 1 else f">u{self.size}"

    @property
    def limit(self) -> int:
        return (1 << (8 * self.size)) - 1


FIELDS: tuple[Field, ...] = (
    Field("server", 0, 1),
    Field("gbe", 1, 1),
    Field("nchan", 2, 2),
    Field("nbeam", 4, 1),
    Field("nserver", 5, 1),
    Field("chan0", 6, 2),
    Field("seq", 8, 8),
)
BY_NAME = {f.name: f for f in FIELDS}
HEADER_DTYPE = np.dtype({"names": [f.name for f in FIELDS], "formats": [f.dtype for f in FIELDS],
                         "offsets": [f.offset for f in FIELDS], "itemsize": HEADER_BYTES})
"""The table as a numpy record: one (big-endian) view per field, no shifts or masks."""


def payload_bytes(nchan: int, nbeam: int = 1) -> int:
    """Bytes of a payload of ``nbeam`` x ``nchan`` x 2 float32 values."""
    if nchan < 1 or nbeam < 1:
        raise HeaderError(f"nchan {nchan}, nbeam {nbeam}: need at least one of each")
    return nbeam * nchan * POLARISATIONS * VALUE_BYTES


def frame_bytes(nchan: int, nbeam: int = 1) -> int:
    return HEADER_BYTES + payload_bytes(nchan, nbeam)


def pack_headers(values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
    """Pack ``n`` headers into a ``(n, 4)`` uint32 array (the 16 header bytes read as little-endian words).

    ``values`` maps field names to scalars or length-``n`` arrays; missing fields are 0, but ``nbeam``
    and ``nserver`` default to 1 as the format fixes them. Values that do not fit raise.
    """
    values = {"nbeam": 1, "nserver": 1, **values}
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise HeaderError(f"fields {sorted(unknown)} are not in an LWA RBeam header")
    records = np.zeros(n, dtype=HEADER_DTYPE)
    for field in FIELDS:
        if field.name not in values:
            continue
        column = np.broadcast_to(np.asarray(values[field.name], dtype=np.uint64 if field.size == 8 else np.int64), (n,))
        if n and field.size < 8 and (column.min() < 0 or column.max() > field.limit):
            bad = column[(column < 0) | (column > field.limit)][0]
            raise HeaderError(f"{field.name}={bad} does not fit in {8 * field.size} bits")
        records[field.name] = column
    return records.view("<u4").reshape(n, HEADER_WORDS)


def unpack_headers(words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
    """Unpack a ``(n, >= 4)`` uint32 array (header bytes as little-endian words) into one column per field.

    ``seq`` is uint64 (all 64 bits); the others int64.
    """
    if words.ndim != 2 or words.shape[1] < HEADER_WORDS:
        raise HeaderError(f"need (n, {HEADER_WORDS}) header words, got {words.shape}")
    records = np.ascontiguousarray(words[:, :HEADER_WORDS]).astype("<u4", copy=False).view(HEADER_DTYPE)[:, 0]
    return {f.name: records[f.name].astype(np.uint64 if f.size == 8 else np.int64) for f in FIELDS}
