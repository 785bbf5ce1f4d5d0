"""LOFAR CEP: the 16-byte RSP beamlet header as a table, the sample clock's time, vectorised pack/unpack."""

from harness.formats.lofar_cep.format import LOFAR_CEP, LofarCepFormat
from harness.formats.lofar_cep.header import HEADER_BYTES, HeaderError, pack_headers, payload_bytes, unpack_headers
from harness.formats.lofar_cep.timecode import RateError, sample_count, to_header

__all__ = [
    "HEADER_BYTES", "LOFAR_CEP", "HeaderError", "LofarCepFormat", "RateError", "pack_headers", "payload_bytes",
    "sample_count", "to_header", "unpack_headers",
]
