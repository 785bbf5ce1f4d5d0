"""LWA RBeam headers against bytes built independently with struct (big-endian), the sequence clock,
and the float32 test pattern: exact, per packet, and broken by any bit."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formats.lwa_rbeam.header import HeaderError, frame_bytes, pack_headers, unpack_headers
from harness.formats.lwa_rbeam.payload import first_wrong, keys_of, pattern_values
from harness.formats.lwa_rbeam.stream import LwaRbeamGenerator, LwaRbeamStreamSpec
from harness.formats.lwa_rbeam.timecode import (
    CYCLE_PACKETS,
    CYCLE_SECONDS,
    RateError,
    first_seq_after,
    seq_at,
    seq_time,
    seq_times,
)
from harness.formats.registry import frame_format

BE = ">BBHBBHQ"
"""dr_vbeam.py's header: server, gbe, nchan (BE), nbeam, nserver, chan0 (BE), seq (BE uint64)."""
START = Fraction(1782864000 + 12394848)
"""A multiple of 32 s, so a sequence boundary."""


def as_bytes(words: np.ndarray) -> bytes:
    return words.astype("<u4").tobytes()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255),
       st.integers(0, 0xFFFF), st.integers(0, (1 << 64) - 1))
def test_pack_and_unpack_agree_with_struct_big_endian(server, gbe, nchan, nbeam, nserver, chan0, seq):
    values = {"server": server, "gbe": gbe, "nchan": nchan, "nbeam": nbeam, "nserver": nserver, "chan0": chan0,
              "seq": np.uint64(seq)}
    expected = struct.pack(BE, server, gbe, nchan, nbeam, nserver, chan0, seq)
    assert as_bytes(pack_headers(values, 1)) == expected
    fields = unpack_headers(np.frombuffer(expected, dtype="<u4").reshape(1, 4))
    assert {k: int(v[0]) for k, v in fields.items()} == {**values, "seq": seq}


def test_a_known_header_byte_by_byte():
    words = pack_headers({"server": 3, "nchan": 0x0102, "chan0": 0x0A0B, "seq": np.uint64(0x1122334455667788)}, 1)
    assert as_bytes(words).hex() == "030001020101" + "0a0b" + "1122334455667788"
    assert frame_bytes(4) == 16 + 4 * 2 * 4


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(HeaderError, match="nchan=65536 does not fit in 16 bits"):
        pack_headers({"nchan": 65536}, 1)
    with pytest.raises(HeaderError, match="not in an LWA RBeam header"):
        pack_headers({"sync": 1}, 1)


def test_sequence_time_is_seq_times_8192_over_196e6():
    assert seq_time(1) == Fraction(8192, 196_000_000)
    assert (CYCLE_SECONDS, CYCLE_PACKETS) == (32, 765625)
    first = seq_at(START)
    assert first == int(START) * 196_000_000 // 8192 and seq_time(first) == START
    with pytest.raises(RateError, match="not a sequence boundary"):
        seq_at(START + 1)
    assert first_seq_after(START + 1) == first + 23926  # 23925.78... steps later, rounded up
    seq = np.array([first, first + 1, first + CYCLE_PACKETS], dtype=np.uint64)
    assert np.allclose(seq_times(seq), [float(START), float(START) + 8192 / 196e6, float(START) + 32],
                       rtol=0, atol=1e-6)
    fmt = frame_format("lwa_rbeam")
    assert list(fmt.header_time(START, np.arange(3), 0)["seq"]) == [first, first + 1, first + 2]
    with pytest.raises(RateError, match="no whole frame rate"):
        fmt.frames_per_second(Fraction(10**6), 64)


def test_pattern_values_are_24_bit_integers_exact_in_float32():
    keys = np.array([1, 2, 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    values = pattern_values(keys, 1000)
    assert values.dtype == np.float32
    assert np.array_equal(values, np.rint(values)) and np.abs(values).max() <= 1 << 23
    assert np.array_equal(values.astype(np.float64).astype(np.float32).view("<u4"), values.view("<u4"))
    assert len({values[i].tobytes() for i in range(3)}) == 3


def test_generated_packets_carry_each_server_per_step_and_verify_alone():
    spec = LwaRbeamStreamSpec(nchan=6, servers=(1, 2, 5), chan0=1234)
    rows = LwaRbeamGenerator(spec, START).batch(10, 4).copy()
    assert rows.shape == (12, 16 + 6 * 2 * 4)
    first = seq_at(START)
    for row, (step, server) in zip(rows, [(s, v) for s in range(10, 14) for v in (1, 2, 5)], strict=True):
        assert struct.unpack_from(BE, row.tobytes()) == (server, 0, 6, 1, 1, 1234, first + step)
    fields = unpack_headers(rows[:, :16].copy().view("<u4"))
    payloads = rows[:, 16:].view("<f4")
    assert np.array_equal(payloads, pattern_values(keys_of(fields), 12))
    check = np.ones(12, dtype=bool)
    assert list(first_wrong(payloads, keys_of(fields), check)) == [-1] * 12
    rows[4, 16 + 4 * 7 + 2] ^= 0x01  # packet 4, value 7
    rows[[8, 9]] = rows[[9, 8]]  # payloads follow their headers: a swap is no payload error
    assert list(first_wrong(payloads, keys_of(fields), check)) == [-1] * 4 + [7] + [-1] * 3 + [0, 0] + [-1] * 2
    with pytest.raises(HeaderError, match="distinct 1-based"):
        LwaRbeamStreamSpec(nchan=6, servers=(0,))
