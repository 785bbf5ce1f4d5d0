"""The format table: names to formats, and VDIF behind it giving exactly the bytes it gave before."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from harness.formats.pattern import write_pattern
from harness.formats.registry import FORMATS, FormatError, frame_format
from harness.formats.vdif.format import VDIF
from harness.formats.vdif.header import headers_view, station_id
from harness.formats.vdif.stream import FrameGenerator, StreamSpec

START = Fraction(1782864000 + 12394851)


def test_the_table_names_each_format_once_and_refuses_others():
    from harness.formats.mark5b.format import MARK5B

    assert frame_format("vdif") is VDIF
    assert frame_format("VDIF") is VDIF
    assert frame_format("mark5b") is MARK5B
    assert all(fmt.name == name for name, fmt in FORMATS.items())
    with pytest.raises(FormatError, match=r"'mark4' is not known \(known: vdif, mark5b, lwa_rbeam, lofar_cep\)"):
        frame_format("mark4")


@pytest.mark.parametrize("edv", [0, None])
def test_vdif_through_the_layer_writes_the_generators_bytes(edv):
    """Headers from header_time + pack_headers and payloads from pattern_keys equal FrameGenerator's frames."""
    spec = StreamSpec(fps=250, payload_bytes=1000, threads=(0,), station=station_id("MK"), edv=edv)
    expected = FrameGenerator(spec, START).batch(0, 600)
    fmt = replace(VDIF, edv=edv)
    assert fmt.frame_bytes(1000) == spec.frame_bytes
    index = np.arange(600, dtype=np.int64)
    values = {**fmt.header_time(START, index, 250), "version": 1, "frame_length": spec.frame_bytes // 8,
              "bits": 2, "thread_id": 0, "station": spec.station}
    frames = np.zeros_like(expected)
    frames[:, : fmt.header_bytes].view("<u4")[:] = fmt.pack_headers(values, 600)
    fields = fmt.unpack_headers(frames[:, : fmt.header_bytes].copy().view("<u4"))
    write_pattern(frames[:, fmt.header_bytes :].view("<u8"), fmt.pattern_keys(fields))
    assert np.array_equal(frames, expected)
    times = fmt.frame_time(fmt.unpack_headers(headers_view(expected.reshape(-1), spec.frame_bytes)), 250, 0.0)
    assert np.allclose(times, float(START) + index / 250, rtol=0, atol=1e-6)


def test_vdif_rate_arithmetic_refuses_what_the_header_cannot_say():
    assert VDIF.frames_per_second(Fraction(2_048_000_000), 8000) == 32000
    with pytest.raises(ValueError, match="not a whole number"):
        VDIF.frames_per_second(Fraction(1_000_000), 8192)
    with pytest.raises(ValueError, match="multiple of 8"):
        VDIF.frame_bytes(1004)
