"""LWA RBeam: 16-byte big-endian header table, sequence-clock time, float32 test-pattern payload, packets."""

from harness.formats.lwa_rbeam.format import LWA_RBEAM, LwaRbeamFormat
from harness.formats.lwa_rbeam.header import HEADER_BYTES, HeaderError, frame_bytes, pack_headers, unpack_headers
from harness.formats.lwa_rbeam.stream import LwaRbeamGenerator, LwaRbeamStreamSpec
from harness.formats.lwa_rbeam.timecode import SEQ_TIME, RateError, seq_at, seq_time

__all__ = [
    "HEADER_BYTES", "LWA_RBEAM", "SEQ_TIME", "HeaderError", "LwaRbeamFormat", "LwaRbeamGenerator",
    "LwaRbeamStreamSpec", "RateError", "frame_bytes", "pack_headers", "seq_at", "seq_time", "unpack_headers",
]
