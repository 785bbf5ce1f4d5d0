"""Rate arithmetic, mode strings and time conversion."""

from __future__ import annotations

from fractions import Fraction

import pytest

from harness.formats.vdif.rates import ObservingMode, RateError, parse_mode
from harness.formats.vdif.timecode import epoch_start, ref_epoch_for, to_unix, to_vdif


def test_meerkat_vlbi_stream():
    mode = ObservingMode(sample_rate=Fraction(64_000_000), nchan=1, bits=2, payload_bytes=5000)
    assert mode.frames_per_second == 3200
    assert mode.frame_bytes == 5032
    assert mode.samples_per_frame == 20000
    assert mode.mode_string == "VDIF_5000-128-1-2"


@pytest.mark.parametrize(("text", "fps", "frame"), [
    ("VDIF_8000-512-1-2", 8000, 8032),
    ("VDIF_8000-2048-16-2", 32000, 8032),
    ("vdif_8192-32768-1-2", 500000, 8224),
    ("VDIFL_8000-64-1-2", 1000, 8016),
    ("VDIFC_8000-64-2-8", 1000, 8032),
])
def test_mode_strings(text, fps, frame):
    mode = parse_mode(text)
    assert mode.frames_per_second == fps
    assert mode.frame_bytes == frame
    assert parse_mode(mode.mode_string) == mode


def test_non_integer_rate_names_payloads_that_work():
    with pytest.raises(RateError) as info:
        parse_mode("VDIF_8192-32000-1-2")
    message = str(info.value)
    assert "488281.2500 frames/s" in message and "8000" in message and "10000" in message
    for payload in (6400, 8000, 10000, 10240):
        assert (Fraction(32_000_000_000) / (8 * payload)).denominator == 1


@pytest.mark.parametrize("text", ["VDIF-64-1-2", "MARK5B-512-8-2", "VDIF_8001-64-1-2", "VDIF_8000-64-3-2"])
def test_bad_modes_are_refused(text):
    with pytest.raises(RateError):
        parse_mode(text)


def test_from_frame_rate_round_trips():
    mode = ObservingMode.from_frame_rate(3200, payload_bytes=5000)
    assert mode.sample_rate == 64_000_000 and mode.frames_per_second == 3200


def test_epochs_and_times():
    assert epoch_start(0) == 946684800  # 2000-01-01
    assert epoch_start(53) == 1782864000  # 2026-07-01
    t = Fraction(1782864000 + 12394851) + Fraction(249, 250)
    assert ref_epoch_for(float(t)) == 53
    assert to_vdif(t, 250) == (53, 12394851, 249)
    assert to_unix(53, 12394851, 249, 250) == pytest.approx(float(t), abs=1e-6)
    with pytest.raises(ValueError, match="frame boundary"):
        to_vdif(t + Fraction(1, 1000), 250)
