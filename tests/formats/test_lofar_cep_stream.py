"""The LOFAR CEP stream generator: its packets against bytes built independently with struct (the seed's byte
table), the sample grid across an odd second (whose start is half a sample late at 200 MHz), and the test
pattern each packet verifies from its own header."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest

from harness.formats.lofar_cep.header import HeaderError
from harness.formats.lofar_cep.stream import LofarCepGenerator, LofarCepStreamSpec
from harness.formats.pattern import pattern_keys, pattern_row

HEADER = "<BBBBHBBII"
T0 = 1782864001  # odd: its second starts on sample (T0 * 2e8 + 512) // 1024, half a sample late


def expected_header(rsp: int, sample: int, spec: LofarCepStreamSpec) -> bytes:
    """The 16 bytes from the seed's table alone: version 3; byte 1 RSP id | clock bit << 7; byte 2 the bit mode;
    station, beamlets, time samples, the Unix second and the sample within it."""
    clock = 200_000_000 if spec.clock_mhz == 200 else 160_000_000
    timestamp = sample * 1024 // clock
    if (((timestamp + 1) * clock + 512) // 1024) <= sample:
        timestamp += 1
    sequence = sample - (timestamp * clock + 512) // 1024
    mode = {16: 0, 8: 1, 4: 2}[spec.bits]
    return struct.pack(HEADER, 3, rsp | (spec.clock_mhz == 200) << 7, mode, 0, spec.station, spec.beamlets,
                       spec.slices, timestamp, sequence)


def expected_payload(packet: bytes) -> bytes:
    """The pattern from the packet's own header: key(station, RSP id, timestamp, sequence) ^ row, per 8 bytes."""
    _, source, _, _, station, _, _, timestamp, sequence = struct.unpack_from(HEADER, packet)
    key = pattern_keys(np.array([station]), np.array([source & 0x1F]), np.array([timestamp]), np.array([sequence]))
    words = (len(packet) - 16) // 8
    return (key[0] ^ pattern_row(words)).astype("<u8").tobytes()


@pytest.mark.parametrize(("bits", "beamlets", "clock"), [(4, 3, 200), (8, 2, 200), (16, 61, 160), (8, 122, 200)])
def test_packets_are_the_struct_built_bytes_over_a_second_boundary(bits, beamlets, clock):
    spec = LofarCepStreamSpec(station=613, bits=bits, beamlets=beamlets, clock_mhz=clock, rsp_ids=(0, 1, 2, 3))
    per_second = Fraction(clock * 10**6, 1024)
    start = Fraction((T0 + 1) * per_second // 16 - 20) * 16 / per_second  # 20 packets before T0 + 1 begins
    generator = LofarCepGenerator(spec, start)
    first = generator.first_sample
    assert first % 16 == 0 and Fraction(first) / per_second == start
    rows = generator.batch(0, 40)
    assert rows.shape == (160, 16 + beamlets * 16 * 4 * bits // 8)
    for i, row in enumerate(rows):
        step, lane = divmod(i, 4)
        packet = row.tobytes()
        assert packet[:16] == expected_header(lane, first + 16 * step, spec)
        assert packet[16:] == expected_payload(packet)
    seconds = {struct.unpack_from(HEADER, row.tobytes())[7] for row in rows}
    assert seconds == {T0, T0 + 1}
    np.testing.assert_array_equal(generator.batch(7, 3), rows[28:40])  # a batch anywhere is the same packets


def test_the_stream_rate_and_the_lanes_beamlet_ranges():
    spec = LofarCepStreamSpec(station=1, bits=8, beamlets=122)
    assert spec.fps == Fraction(200_000_000, 1024 * 16) and float(spec.fps) == 12207.03125
    assert spec.beamlet_ranges == ((0, 121), (122, 243), (244, 365), (366, 487))  # the seed's 8-bit table
    assert LofarCepStreamSpec(station=1, bits=16, beamlets=61).beamlet_ranges[3] == (183, 243)
    assert LofarCepStreamSpec(station=1, bits=4, beamlets=244).beamlet_ranges[3] == (732, 975)
    assert LofarCepStreamSpec(station=1, bits=4, beamlets=2, clock_mhz=160).fps == Fraction(160_000_000, 1024 * 16)
    assert spec.frame_bytes == 16 + 122 * 16 * 4


@pytest.mark.parametrize(("change", "says"), [
    ({"bits": 2}, "LOFAR CEP has 4, 8 or 16"),
    ({"beamlets": 123}, "a lane holds 1..122 at 8 bits"),
    ({"clock_mhz": 100}, "200 or 160"),
    ({"rsp_ids": (0, 0)}, "distinct"),
    ({"rsp_ids": (0, 1, 2, 3, 4)}, "1..4 distinct"),
    ({"first_beamlets": (0, 10, 20, 30)}, "overlap"),
    ({"bits": 4, "beamlets": 1, "slices": 1}, "whole 8-byte words"),
])
def test_a_stream_the_format_cannot_carry_is_refused(change, says):
    with pytest.raises(HeaderError, match=says):
        LofarCepStreamSpec(**{"station": 1, "bits": 8, "beamlets": 12, **change})
