"""The checker on LOFAR CEP: packets built with struct (two RSP boards at 200 MHz over a second boundary, whose
odd second starts half a sample late), each field check counted once, and continuity from timestamp plus
sequence (lost, duplicate, out of order) counted from the list of packets written."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from harness.checker import Expectation, check_files
from harness.checker.errors import CheckerError
from harness.formats.lofar_cep.timecode import to_header
from harness.formats.pattern import write_pattern
from harness.formats.registry import frame_format

BOARDS = (0, 1)
BEAMLETS, SLICES, BITS, STATION = 6, 16, 8, 613
PAYLOAD = BEAMLETS * SLICES * 4 * BITS // 8
F = 16 + PAYLOAD
STEPS = 200
T0 = 1782864001  # an odd second: it starts on sample (t * 2e8 + 512) // 1024
SECOND_2 = ((T0 + 1) * 200_000_000 + 512) // 1024
START_SAMPLE = SECOND_2 - 100 * SLICES  # 100 packets before the even second T0 + 1 begins
EXPECT = Expectation(format="lofar_cep", payload="pattern", threads=BOARDS, bits=BITS,
                     header_values=(("station", STATION), ("beamlets", BEAMLETS), ("slices", SLICES), ("version", 3)))
FIELDS = "<BBBBHBBII"


def packet(board: int, step: int, **change: int) -> bytes:
    samples = np.array([START_SAMPLE + step * SLICES])
    t = to_header(samples, 1)
    values = {"version": 3, "source": board | 1 << 7, "mode": 1, "config": 0, "station": STATION,
              "beamlets": BEAMLETS, "slices": SLICES, "timestamp": int(t["timestamp"][0]),
              "sequence": int(t["sequence"][0])}
    keys = frame_format("lofar_cep").pattern_keys({"station": np.array([STATION]), "rsp_id": np.array([board]),
                                                    "timestamp": t["timestamp"], "sequence": t["sequence"]})
    payload = np.zeros((1, PAYLOAD // 8), dtype="<u8")
    write_pattern(payload, keys)
    values.update(change)
    return struct.pack(FIELDS, *values.values()) + payload.tobytes()


def stream(order: list[tuple[int, int]], damage: dict[int, dict[str, int]] | None = None) -> bytes:
    damage = damage or {}
    return b"".join(packet(b, s, **damage.get(i, {})) for i, (b, s) in enumerate(order))


def clean_order() -> list[tuple[int, int]]:
    return [(b, s) for s in range(STEPS) for b in BOARDS]


def check(tmp_path, data: bytes, expect: Expectation = EXPECT):
    path = tmp_path / "rec.cep"
    path.write_bytes(data)
    return check_files([path], expect)


def test_the_clean_stream_over_a_second_boundary_is_clean(tmp_path):
    order = clean_order()
    assert struct.unpack_from(FIELDS, packet(1, 100))[7:] == (T0 + 1, 0)  # packet 100 leads the even second
    assert struct.unpack_from(FIELDS, packet(1, 99))[7:] == (T0, 195312 - 16)  # an odd second has 195312 samples
    for expect in (EXPECT, Expectation(format="lofar_cep", payload="pattern")):
        result = check(tmp_path, stream(order), expect)
        assert result.clean, result.findings
        assert result.frame_counts.frames == 2 * STEPS and list(result.threads) == [0, 1]
        assert result.frame_bytes == F
        assert result.duration_s == pytest.approx(STEPS * SLICES * 1024 / 200e6)


@pytest.mark.parametrize(("change", "says"), [
    ({"version": 2}, "version 2, the stream's is 3"),
    ({"source": 1 | 1 << 6 | 1 << 7}, "the RSP error bit is set"),
    ({"mode": 0}, "bits 16, the stream's is 8"),
    ({"mode": 3}, "bit mode 3 (an error)"),
    ({"station": 614}, "station 614, the stream's is 613"),
    ({"beamlets": 5}, "beamlets 5, the stream's is 6"),
    ({"mode": 1 | 4}, "the unused bit-mode bits (byte 2, bits 2-7) is 1"),
    ({"timestamp": 0xFFFFFFFF}, "timestamp 4294967295 is more than a day from the stream's"),  # a bad packet's mark
])
def test_each_field_check_counts_its_packet_once(tmp_path, change, says):
    result = check(tmp_path, stream(clean_order(), {51: change}))
    (finding,) = [f for f in result.findings if f.kind == "corrupt_headers"]
    assert says in finding.detail and finding.offset == 51 * F and finding.thread == 1
    c = result.frame_counts
    assert (c.corrupt_headers, c.missing_frames, c.duplicate_frames) == (1, 0, 0)


def counts_of(order: list[tuple[int, int]]) -> tuple[int, int, int]:
    """(missing, duplicate, out of order) per board from the list alone, summed."""
    missing = duplicate = late = 0
    for board in BOARDS:
        steps = [s for b, s in order if b == board]
        seen: set[int] = set()
        top = -1
        for s in steps:
            duplicate += s in seen
            late += s not in seen and s < top
            seen.add(s)
            top = max(top, s)
        missing += max(seen) - min(seen) + 1 - len(seen)
    return missing, duplicate, late


def test_continuity_from_timestamp_and_sequence_across_the_second(tmp_path):
    order = clean_order()
    del order[2 * 100]  # board 0's first packet of the even second
    order.insert(2 * 50, order[2 * 50 + 1])  # board 1's step 50 twice
    i = order.index((1, 120))
    order[i], order[i + 2] = order[i + 2], order[i]  # board 1's steps 120 and 121 swapped
    c = check(tmp_path, stream(order)).frame_counts
    assert (c.missing_frames, c.duplicate_frames, c.out_of_order_frames) == counts_of(order) == (1, 1, 1)


def test_a_sequence_off_the_packet_grid_is_a_corrupt_header_in_place(tmp_path):
    result = check(tmp_path, stream(clean_order(), {31: {"sequence": 7}}))
    c = result.frame_counts
    assert (c.corrupt_headers, c.missing_frames) == (1, 0)


def test_what_lofar_cep_does_not_have_is_refused(tmp_path):
    with pytest.raises(CheckerError, match="fps: not for a LOFAR CEP stream"):
        check(tmp_path, stream(clean_order()), Expectation(format="lofar_cep", fps=10))


def test_at_160_mhz_a_sequence_of_a_whole_second_is_beyond_it(tmp_path):
    """A 160 MHz second holds exactly 156 250 samples (0..156 249): a packet that says (t, 156 250) for the first
    sample of t + 1 is a corrupt header, not the same packet said another way (the bound was 200 MHz's)."""
    from fractions import Fraction

    from harness.formats.lofar_cep.stream import LofarCepGenerator, LofarCepStreamSpec

    spec = LofarCepStreamSpec(station=STATION, bits=8, beamlets=2, clock_mhz=160, rsp_ids=(0,))
    t = 1782864000  # a multiple of 8: its first sample, t x 156 250, is on the 16-sample grid
    rows = LofarCepGenerator(spec, Fraction(t - 1)).batch(9760, 10).copy()  # over the start of second t
    (first,) = [i for i, row in enumerate(rows) if struct.unpack_from(FIELDS, row.tobytes())[7:] == (t, 0)]
    struct.pack_into("<II", rows[first], 8, t - 1, 156250)
    result = check(tmp_path, rows.tobytes(), Expectation(format="lofar_cep", payload="pattern"))
    (finding,) = [f for f in result.findings if f.kind == "corrupt_headers"]
    assert "sequence 156250 is beyond the samples of a second" in finding.detail
    assert result.frame_counts.corrupt_headers == 1
