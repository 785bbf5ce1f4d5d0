"""Mark5B: header table with BCD time code and CRC-16, time and rate arithmetic, frame generation."""

from harness.formats.mark5b.format import MARK5B, Mark5bFormat
from harness.formats.mark5b.header import (
    FRAME_BYTES,
    HEADER_BYTES,
    PAYLOAD_BYTES,
    SYNC_WORD,
    HeaderError,
    pack_headers,
    time_code_crc,
    unpack_headers,
)
from harness.formats.mark5b.stream import SEQUENCE_BYTES, Mark5bGenerator, Mark5bStreamSpec
from harness.formats.mark5b.timecode import RateError, frames_per_second

__all__ = [
    "FRAME_BYTES", "HEADER_BYTES", "MARK5B", "PAYLOAD_BYTES", "SEQUENCE_BYTES", "SYNC_WORD", "HeaderError",
    "Mark5bFormat", "Mark5bGenerator", "Mark5bStreamSpec", "RateError", "frames_per_second", "pack_headers",
    "time_code_crc", "unpack_headers",
]
