"""LOFAR CEP headers against bytes built independently with struct (little-endian, source and bit-mode bytes
by hand), and the sample clock's time across second boundaries at both clocks."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formats.lofar_cep.header import HeaderError, pack_headers, payload_bytes, unpack_headers
from harness.formats.lofar_cep.timecode import RateError, sample_count, second_start, to_header
from harness.formats.registry import frame_format

LE = "<BBBBHBBII"
"""version, source info, bit mode, config, station, beamlets, slices, timestamp, sequence."""


def struct_header(*, version=3, rsp_id=0, source_unused=0, error=0, clock_200=1, bit_mode=1, mode_unused=0,
                  config=0, station=0, beamlets=0, slices=0, timestamp=0, sequence=0) -> bytes:
    source = rsp_id | source_unused << 5 | error << 6 | clock_200 << 7
    return struct.pack(LE, version, source, bit_mode | mode_unused << 2, config, station, beamlets, slices,
                       timestamp, sequence)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({
    "version": st.integers(0, 255), "rsp_id": st.integers(0, 31), "source_unused": st.integers(0, 1),
    "error": st.integers(0, 1), "clock_200": st.integers(0, 1), "bit_mode": st.integers(0, 3),
    "mode_unused": st.integers(0, 63), "config": st.integers(0, 255), "station": st.integers(0, 0xFFFF),
    "beamlets": st.integers(0, 255), "slices": st.integers(0, 255), "timestamp": st.integers(0, 2**32 - 1),
    "sequence": st.integers(0, 2**32 - 1)}))
def test_pack_and_unpack_agree_with_struct(values):
    expected = struct_header(**values)
    assert pack_headers(values, 1).astype("<u4").tobytes() == expected
    fields = unpack_headers(np.frombuffer(expected, dtype="<u4").reshape(1, 4))
    assert {k: int(fields[k][0]) for k in values} == values
    assert int(fields["bits"][0]) == {0: 16, 1: 8, 2: 4, 3: -1}[values["bit_mode"]]


def test_a_known_header_byte_by_byte():
    words = pack_headers({"rsp_id": 2, "error": 1, "clock_200": 1, "bits": 4, "station": 613, "beamlets": 122,
                          "slices": 16, "timestamp": 0x01020304, "sequence": 195312}, 1)
    assert words.astype("<u4").tobytes().hex() == "03" "c2" "02" "00" "6502" "7a" "10" "04030201" "f0fa0200"
    assert payload_bytes(122, 16, 8) == 122 * 16 * 4 and payload_bytes(244, 16, 4) == 244 * 16 * 2
    with pytest.raises(HeaderError, match="rsp_id=32 does not fit in 5 bits"):
        pack_headers({"rsp_id": 32}, 1)
    with pytest.raises(HeaderError, match="LOFAR CEP has 4, 8 or 16"):
        pack_headers({"bits": 2}, 1)


def test_the_sample_clock_at_200_mhz_carries_packets_across_seconds():
    """195312.5 samples/s: even seconds start on a whole sample, odd ones half-way (rounded up)."""
    assert list(second_start([0, 1, 2, 3], 1)) == [0, 195313, 390625, 585938]
    samples = 390625 - 32 + 16 * np.arange(4)  # four 16-sample packets over the start of second 2
    header = to_header(samples, 1)
    assert list(header["timestamp"]) == [1, 1, 2, 2] and list(header["sequence"]) == [195280, 195296, 0, 16]
    assert np.array_equal(sample_count(header["timestamp"], header["sequence"], 1), samples)
    assert list(to_header([156250 * 7 + 5], 0)["sequence"]) == [5]  # 160 MHz: 156250 samples a second


def test_the_format_entry_places_packets_by_their_samples():
    fmt = frame_format("lofar_cep")
    start = Fraction(1782864000)
    fields = fmt.header_time(start, np.arange(3, dtype=np.int64), 0)
    assert list(fields["sequence"]) == [0, 16, 32] and set(fields["timestamp"]) == {1782864000}
    assert np.allclose(fmt.frame_time(fields, 0, 0.0), 1782864000 + np.arange(3) * 16 * 1024 / 200e6, atol=1e-6)
    with pytest.raises(RateError, match="no whole frame rate"):
        fmt.frames_per_second(Fraction(10**6), 7808)


@pytest.mark.parametrize("bits", [16, 8, 4])
def test_samples_decode_from_struct_built_payloads_and_encode_back(bits):
    """Two beamlets x 3 time samples x (Xr, Xi, Yr, Yi), the payload built value by value with struct."""
    from harness.formats.lofar_cep.payload import decode, encode

    limit = 1 << (bits - 1)
    values = [(-limit + 5 * k) % (2 * limit) - limit for k in range(2 * 3 * 4)]  # beamlet, time, XrXiYrYi order
    if bits == 16:
        data = struct.pack("<24h", *values)
    elif bits == 8:
        data = struct.pack("<24b", *values)
    else:  # low nibble first
        data = bytes((values[2 * i] & 0xF) | (values[2 * i + 1] & 0xF) << 4 for i in range(12))
    payloads = np.frombuffer(data, dtype=np.uint8).reshape(1, -1)
    samples = decode(payloads, 2, 3, bits)
    assert samples.shape == (1, 2, 3, 2)
    b, t = 1, 2
    first = (b * 3 + t) * 4
    assert samples[0, b, t, 0] == complex(values[first], values[first + 1])  # X
    assert samples[0, b, t, 1] == complex(values[first + 2], values[first + 3])  # Y
    assert encode(samples, bits).tobytes() == data
    with pytest.raises(HeaderError, match="must be integers"):
        encode(samples + limit * 2, bits)
