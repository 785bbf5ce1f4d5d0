"""Cross-checks with baseband, the reference VDIF reader and writer."""

from __future__ import annotations

from fractions import Fraction

import astropy.units as u
import numpy as np
import pytest
from baseband import vdif
from baseband.vdif.payload import VDIFPayload

from harness.formats.vdif.header import HEADER_BYTES, headers_view, unpack_headers
from harness.formats.vdif.payload import PayloadKind, Tone, unpack_samples
from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from harness.formats.vdif.timecode import to_unix

START = Fraction(1782864000 + 12394851)  # 2026-07-01 + 12394851 s, epoch 53


def write(tmp_path, spec: StreamSpec, frames: int) -> tuple[bytes, str]:
    data = FrameGenerator(spec, START).batch(0, frames).tobytes()
    path = tmp_path / "stream.vdif"
    path.write_bytes(data)
    return data, str(path)


@pytest.mark.parametrize("edv", [0, 1, 3, None])
def test_our_frames_read_back_in_baseband(tmp_path, edv):
    extra = {"sampling_unit": 1, "sample_rate": 16} if edv in (1, 3) else {}
    payload = 5000 if edv == 3 else 1000
    fps = 3200 if edv == 3 else 500
    spec = StreamSpec(fps=fps, payload_bytes=payload, threads=(0, 1, 2), station=0x4D4B, edv=edv, extra=extra)
    _, path = write(tmp_path, spec, 5)
    with vdif.open(path, "rb") as fh:
        for index in range(15):
            header = vdif.VDIFHeader.fromfile(fh, verify=True)
            fh.seek(header.payload_nbytes, 1)
            assert header.edv == (False if edv is None else edv)
            assert header["thread_id"] == index % 3
            assert header["frame_nr"] == index // 3
            assert header["seconds"] == 12394851
            assert header["ref_epoch"] == 53
            assert header.station == "MK"
            assert header.frame_nbytes == spec.frame_bytes
            assert header.bps == 2 and header.nchan == 1 and not header["complex_data"]
            when = header.get_time(frame_rate=fps * u.Hz)
            assert abs(when.unix - float(START + Fraction(index // 3, fps))) < 1e-6


@pytest.mark.parametrize(("kind", "nchan", "bits", "complex_"), [
    (PayloadKind.NOISE, 1, 2, False), (PayloadKind.NOISE, 4, 2, False), (PayloadKind.TONE, 2, 2, False),
    (PayloadKind.NOISE, 2, 1, False), (PayloadKind.NOISE, 1, 4, False), (PayloadKind.NOISE, 2, 2, True),
])
def test_samples_decode_the_same_in_baseband(tmp_path, kind, nchan, bits, complex_):
    tone = Tone(1_000_000, channel=1 if nchan > 1 else 0) if kind is PayloadKind.TONE else None
    spec = StreamSpec(fps=1000, payload_bytes=1024, threads=(0,), nchan=nchan, bits=bits, complex=complex_,
                      payload=kind, tone=tone)
    data, path = write(tmp_path, spec, 4)
    with vdif.open(path, "rs", sample_rate=float(spec.sample_rate) * u.Hz, squeeze=False) as fh:
        decoded = fh.read()[:, 0]  # (samples, nchan) floats or complex, thread axis dropped
    frames = np.frombuffer(data, dtype=np.uint8).reshape(4, spec.frame_bytes)
    states = unpack_samples(frames[:, HEADER_BYTES:].reshape(-1), bits)
    components = 2 if complex_ else 1
    states = states.reshape(-1, nchan, components)
    # baseband maps offset-binary states to monotonically increasing levels: the order must agree
    levels = np.stack([decoded.real, decoded.imag], axis=-1) if complex_ else decoded[..., None]
    for state in range(1 << bits):
        chosen = levels[states == state]
        if chosen.size:
            assert np.all(chosen == chosen.flat[0]), f"state {state} decodes to several values"
    order = [levels[states == s].flat[0] for s in range(1 << bits) if (states == s).any()]
    assert order == sorted(order)


def test_baseband_frames_parse_the_same_in_our_model(tmp_path):
    path = str(tmp_path / "bb.vdif")
    header = vdif.VDIFHeader.fromvalues(
        edv=3, seconds=12394851, ref_epoch=53, frame_nr=7, thread_id=9, station="Mk",
        bps=2, nchan=4, complex_data=False, frame_length=629, sample_rate=32 * u.MHz,
        loif_tuning=42, dbe_unit=3, if_nr=2, subband=1, sideband=True, major_rev=1, minor_rev=2, personality=5)
    payload = VDIFPayload.fromdata(np.ones((header.samples_per_frame, 4), dtype=np.float32), header)
    with open(path, "wb") as fh:
        vdif.VDIFFrame(header, payload).tofile(fh)
    raw = np.fromfile(path, dtype=np.uint8)
    fields = unpack_headers(headers_view(raw, 5032)[:, :8], edv=3)
    # EDV3 stores the rate of complex samples: baseband writes 32 MHz real as 16 (MHz units)
    expected = {"seconds": 12394851, "ref_epoch": 53, "frame_nr": 7, "thread_id": 9, "station": 0x4D6B,
                "bits": 2, "lg2_nchan": 2, "frame_bytes": 5032, "edv": 3, "sampling_unit": 1,
                "sample_rate": 16, "sync": 0xACABFEED, "loif_tuning": 42, "dbe_unit": 3, "if_nr": 2,
                "subband": 1, "sideband": 1, "major_rev": 1, "minor_rev": 2, "personality": 5, "legacy": 0}
    for name, value in expected.items():
        assert fields[name][0] == value, name
    assert to_unix(fields["ref_epoch"], fields["seconds"], fields["frame_nr"], 3200)[0] == pytest.approx(
        header.get_time(frame_rate=3200 * u.Hz).unix, abs=1e-6)
