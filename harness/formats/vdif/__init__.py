"""VDIF: header table, rate and time arithmetic, payload kinds, stream generation."""

from harness.formats.vdif.header import (
    HEADER_BYTES,
    LEGACY_HEADER_BYTES,
    SYNC_WORD,
    HeaderError,
    pack_headers,
    station_id,
    station_name,
    unpack_headers,
)
from harness.formats.vdif.payload import PayloadKind, Tone
from harness.formats.vdif.rates import ObservingMode, RateError, parse_mode
from harness.formats.vdif.stream import SEQUENCE_BYTES, FrameGenerator, StreamSpec

__all__ = [
    "HEADER_BYTES", "LEGACY_HEADER_BYTES", "SEQUENCE_BYTES", "SYNC_WORD", "FrameGenerator",
    "HeaderError", "ObservingMode", "PayloadKind", "RateError", "StreamSpec", "Tone",
    "pack_headers", "parse_mode", "station_id", "station_name", "unpack_headers",
]
