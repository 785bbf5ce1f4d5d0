"""Sample statistics: exact state counts against bits unpacked independently (np.unpackbits), for 1, 2,
4 and 8-bit samples and several channel layouts; and the error of what comes from a subset of the
frames (every COUNT_EVERY-th frame for the counts, SPECTRUM_FRAMES per thread for the spectrum)
against the same figures over all frames, on noise and on a tone."""

from __future__ import annotations

import numpy as np
import pytest

import harness.checker.check as check_module
from harness.checker import Expectation, check_files
from harness.checker.states import ByteTableStates, PopcountStates, state_counter
from harness.checker.statistics import COUNT_EVERY, SPECTRUM_FRAMES, averaged_spectrum
from harness.formats.vdif.payload import PayloadKind, Tone
from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from tests.checker.corpus import START

SPECTRUM_BIN_TOLERANCE = 0.10
"""Each bin of the subset's spectrum within 10 % of all the data's. 64 frames of 16 000 samples per channel
give 1984 segments of 512: a bin's relative error is ~1/sqrt(1984) = 2.2 % (3.2 % at DC and Nyquist, one
degree of freedom), so the worst of 2 x 257 bins lies near 3.5 sigma, ~6-8 % (measured: 5.7 % noise, 6.2 % tone)."""
SPECTRUM_MEAN_TOLERANCE = 0.025
"""The mean over bins of the relative error: ~1.8 % expected (0.8 x 2.2 %), 1.7 % measured."""
SHARE_TOLERANCE = 0.002
"""State shares from every 8th frame within 0.2 percentage points of all frames' (2 M samples per channel:
~0.03 points of sampling error, 0.07 measured; the sampler verdict's ranges are 13 points wide)."""


def reference_counts(payloads: np.ndarray, bits: int, nchan: int, components: int) -> np.ndarray:
    """States per channel from the bits themselves: VDIF packs the first sample in the lowest bits."""
    planes = np.unpackbits(np.ascontiguousarray(payloads).reshape(-1), bitorder="little").reshape(-1, bits)
    states = (planes.astype(np.int64) << np.arange(bits)).sum(axis=1)
    channel = (np.arange(len(states)) // components) % nchan
    counts = np.zeros((nchan, 1 << bits), dtype=np.int64)
    np.add.at(counts, (channel, states), 1)
    return counts


LAYOUTS = [(bits, nchan, complex_) for bits in (1, 2, 4, 8) for nchan in (1, 2, 4, 16) for complex_ in (False, True)]


@pytest.mark.parametrize(("bits", "nchan", "complex_"), LAYOUTS,
                         ids=[f"{b}bit-{n}ch-{'complex' if c else 'real'}" for b, n, c in LAYOUTS])
def test_counts_of_every_nth_frame_equal_the_unpacked_bits(tmp_path, monkeypatch, bits, nchan, complex_):
    # windows of 16 frames, so the every-Nth choice of each thread runs on across many windows
    monkeypatch.setattr(check_module, "WINDOW_BYTES", 16)
    spec = StreamSpec(fps=1000, payload_bytes=8000, threads=(0, 1, 2), bits=bits, nchan=nchan, complex=complex_,
                      payload=PayloadKind.NOISE)
    per_thread = 43  # not a multiple of COUNT_EVERY
    frames = FrameGenerator(spec, START).batch(0, per_thread)
    path = tmp_path / "noise.vdif"
    path.write_bytes(frames.tobytes())
    result = check_files([path], Expectation(payload="noise", fps=1000))
    assert result.clean, result.findings
    counted = -(-per_thread // COUNT_EVERY)
    for rank, thread in enumerate(spec.threads):
        stats = result.statistics[thread]
        mine = frames[rank::3, spec.header_bytes:][::COUNT_EVERY]
        assert np.array_equal(np.array(stats["state_counts"]), reference_counts(mine, bits, nchan, 1 + complex_))
        assert stats["state_counts_frames"] == counted
        assert stats["state_counts_fraction"] == pytest.approx(counted / per_thread, rel=1e-5)
        assert stats["spectrum"]["frames"] == min(per_thread, SPECTRUM_FRAMES)


@pytest.mark.parametrize(("bits", "nchan", "complex_"), LAYOUTS,
                         ids=[f"{b}bit-{n}ch-{'complex' if c else 'real'}" for b, n, c in LAYOUTS])
def test_both_kernels_equal_the_unpacked_bits_on_random_bytes(bits, nchan, complex_):
    rng = np.random.default_rng(bits * 100 + nchan * 2 + complex_)
    payloads = rng.integers(0, 256, (300, 2048), dtype=np.uint8)
    rows = np.arange(3, 300, 7)
    expected = reference_counts(payloads[rows], bits, nchan, 1 + complex_)
    table = ByteTableStates(bits, nchan, 1 + complex_, payloads.shape[1])
    assert np.array_equal(table(payloads.view(np.uint64), rows), expected)
    if bits <= 2 and nchan == 1:
        assert np.array_equal(PopcountStates(bits, nchan)(payloads.view(np.uint64), rows), expected)
        assert state_counter(bits, nchan, 1 + complex_, payloads.shape[1]).kind == "popcount"  # type: ignore[union-attr]


def test_widths_no_kernel_reads_have_no_counter():
    assert state_counter(16, 1, 1, 8000) is None
    assert state_counter(3, 1, 1, 8000) is None  # 10 samples and 2 bits of padding per word


def _all_frames(spec: StreamSpec, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The payloads of ``count`` frames, and the same decoded by baseband: ``(frames, samples, nchan)``."""
    from baseband.vdif.payload import VDIFPayload

    payloads = FrameGenerator(spec, START).batch(0, count)[:, spec.header_bytes:]
    decoded = VDIFPayload(np.ascontiguousarray(payloads).reshape(-1).view("<u4"), sample_shape=(spec.nchan,),
                          bps=spec.bits, complex_data=spec.complex).data
    return payloads, np.asarray(decoded).reshape(count, -1, spec.nchan)


@pytest.mark.parametrize("payload", [PayloadKind.NOISE, PayloadKind.TONE])
def test_subset_statistics_are_near_those_of_all_frames(tmp_path, payload):
    tone = Tone(3_000_000, channel=1) if payload is PayloadKind.TONE else None
    spec = StreamSpec(fps=1000, payload_bytes=8000, nchan=2, payload=payload, tone=tone)
    count = 1024  # one thread: 16 x the spectrum's 64 frames
    payloads, decoded = _all_frames(spec, count)
    path = tmp_path / "stream.vdif"
    path.write_bytes(FrameGenerator(spec, START).batch(0, count).tobytes())
    expect = Expectation(payload=payload.value, fps=1000, tone_hz=tone.frequency if tone else None, tone_channel=1)
    result = check_files([path], expect)
    assert result.clean, result.findings
    stats = result.statistics[0]

    # state counts: every 8th frame, said so, and shares near all frames'
    assert stats["state_counts_fraction"] == 1 / COUNT_EVERY and stats["state_counts_frames"] == count // COUNT_EVERY
    subset = np.array(stats["state_counts"])
    full = reference_counts(payloads, 2, 2, 1)
    share_error = np.abs(subset / subset.sum(axis=1, keepdims=True) - full / full.sum(axis=1, keepdims=True))
    assert share_error.max() <= SHARE_TOLERANCE, share_error

    # spectrum: 64 frames, said so, and every bin near the spectrum of all 1024 frames
    spectrum = stats["spectrum"]
    assert spectrum["frames"] == SPECTRUM_FRAMES and spectrum["fraction"] == SPECTRUM_FRAMES / count
    freq, power = averaged_spectrum(decoded, False, float(spec.sample_rate))
    assert np.allclose(spectrum["frequency_hz"], freq, rtol=1e-6)
    error = np.abs(np.array(spectrum["power"]).T / power - 1)
    assert error.max() <= SPECTRUM_BIN_TOLERANCE, error.max()
    assert error.mean() <= SPECTRUM_MEAN_TOLERANCE, error.mean()
    if tone is not None:
        at = int(np.argmax(power[1:, 1])) + 1
        assert spectrum["peak_hz"][1] == freq[at] and abs(freq[at] - tone.frequency) <= freq[1]
