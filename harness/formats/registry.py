"""The one table of recording formats: a name ("vdif", "mark5b") -> the object that knows its frames.

Everything outside ``harness/formats/<name>/`` that needs a format's header layout, sizes, time
arithmetic or test pattern asks it through ``FrameFormat``, chosen by name with ``frame_format``.
Header fields travel as a mapping of field name -> numpy column; each format documents its names.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from harness.formats.lofar_cep.format import LOFAR_CEP
from harness.formats.lwa_rbeam.format import LWA_RBEAM
from harness.formats.mark5b.format import MARK5B
from harness.formats.vdif.format import VDIF

HeaderFields = Mapping[str, npt.NDArray[Any]]


class FormatError(ValueError):
    """A format name no table entry has."""


class FrameFormat(Protocol):
    """What the sender, the recorder and the checker need to know of one recording format."""

    @property
    def name(self) -> str: ...

    @property
    def header_bytes(self) -> int:
        """Bytes of one frame header."""
        ...

    @property
    def sync_word(self) -> int | None:
        """The 32-bit word every header carries at word ``sync_word_index`` (``None``: the format has none)."""
        ...

    @property
    def sync_word_index(self) -> int: ...

    def frame_bytes(self, payload_bytes: int) -> int:
        """Bytes of one frame with a ``payload_bytes`` payload (refused where the format fixes it)."""
        ...

    def frames_per_second(self, bits_per_second: Fraction, payload_bytes: int) -> int:
        """Frames per second (per thread) at this payload bit rate; refused unless whole and encodable."""
        ...

    def pack_headers(self, values: Mapping[str, npt.ArrayLike], n: int) -> npt.NDArray[np.uint32]:
        """``n`` headers as a ``(n, header_bytes // 4)`` uint32 array (little-endian words)."""
        ...

    def unpack_headers(self, words: npt.NDArray[np.uint32]) -> dict[str, npt.NDArray[Any]]:
        """One column per header field of a ``(n, >= header words)`` uint32 array."""
        ...

    def header_time(self, start: Fraction | int, index: npt.NDArray[np.int64], fps: int) -> dict[str, npt.NDArray[Any]]:
        """The time fields of frames ``index`` of a stream whose frame 0 starts at POSIX time ``start``."""
        ...

    def frame_time(self, fields: HeaderFields, fps: int, near: float) -> npt.NDArray[np.float64]:
        """POSIX start time of each frame from its header fields; ``near`` is a time within 500 days (for
        formats whose time code is truncated)."""
        ...

    def pattern_keys(self, fields: HeaderFields) -> npt.NDArray[np.uint64]:
        """The test pattern's key of each frame, from its own header fields (``harness.formats.pattern``)."""
        ...


FORMATS: Mapping[str, FrameFormat] = {"vdif": VDIF, "mark5b": MARK5B, "lwa_rbeam": LWA_RBEAM,
                                      "lofar_cep": LOFAR_CEP}
"""The formats, by the name a scenario and the command lines use."""


def frame_format(name: str) -> FrameFormat:
    """The format called ``name``; an unknown name is refused with the known ones."""
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise FormatError(f"format {name!r} is not known (known: {', '.join(FORMATS)})") from None
