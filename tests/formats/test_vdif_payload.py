"""Payload kinds: pattern determinism, noise statistics, tone spectrum."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from harness.formats.vdif.header import headers_view, unpack_headers
from harness.formats.vdif.payload import PayloadKind, Tone, pattern_keys, pattern_row, state_counts, unpack_samples
from harness.formats.vdif.stream import FrameGenerator, StreamSpec

START = Fraction(1782864000 + 100)


def test_pattern_frame_verifiable_on_its_own():
    spec = StreamSpec(fps=100, payload_bytes=1000, threads=(0, 5), station=0x4D4B)
    frames = FrameGenerator(spec, START).batch(0, 50).copy()
    fields = unpack_headers(headers_view(frames.reshape(-1), spec.frame_bytes)[:, :8])
    keys = pattern_keys(fields["station"], fields["thread_id"], fields["seconds"], fields["frame_nr"])
    expected = keys[:, None] ^ pattern_row(125)[None, :]
    np.testing.assert_array_equal(frames[:, 32:].view("<u8"), expected)
    # later batches agree with a single long batch: the pattern depends on nothing but the frame
    again = FrameGenerator(spec, START).batch(20, 10)
    np.testing.assert_array_equal(again, frames[40:60])
    # every frame's payload differs from every other frame's
    assert len({bytes(row) for row in frames[:, 32:]}) == 100


def test_udps_sequence_numbers_increase_across_threads():
    spec = StreamSpec(fps=100, payload_bytes=64, threads=(0, 1, 2, 3), udps=True)
    generator = FrameGenerator(spec, START, first_sequence=1000)
    first = generator.batch(0, 3)[:, :8].copy().view("<u8")[:, 0]
    second = generator.batch(3, 2)[:, :8].copy().view("<u8")[:, 0]
    np.testing.assert_array_equal(np.concatenate([first, second]), np.arange(1000, 1020))


@pytest.mark.parametrize("complex_", [False, True])
def test_noise_state_counts_are_optimal(complex_):
    spec = StreamSpec(fps=1000, payload_bytes=8000, payload=PayloadKind.NOISE, nchan=2, complex=complex_)
    frames = FrameGenerator(spec, START).batch(0, 200)
    counts = state_counts(frames[:, 32:], 2, 2, complex_)
    fractions = counts / counts.sum(axis=1, keepdims=True)
    for channel in fractions:
        np.testing.assert_allclose(channel, [0.163, 0.337, 0.337, 0.163], atol=0.006)


def test_tone_shows_at_its_frequency_in_its_channel():
    fps, payload, nchan = 1000, 8000, 2
    sample_rate = fps * payload * 8 / 2 / nchan  # 16 MHz per channel
    spec = StreamSpec(fps=fps, payload_bytes=payload, nchan=nchan, payload=PayloadKind.TONE,
                      tone=Tone(3_000_000, channel=1, amplitude=0.2))
    frames = FrameGenerator(spec, START).batch(0, 64)
    levels = np.array([-3.3, -1.0, 1.0, 3.3])
    samples = levels[unpack_samples(frames[:, 32:].reshape(-1), 2)].reshape(64, -1, nchan)
    nfft = 1024
    spectra = []
    for channel in range(nchan):
        blocks = samples[:, : (samples.shape[1] // nfft) * nfft, channel].reshape(-1, nfft)
        spectra.append((np.abs(np.fft.rfft(blocks, axis=1)) ** 2).mean(axis=0))
    freqs = np.fft.rfftfreq(nfft, 1 / sample_rate)
    peak = int(np.argmax(spectra[1][1:])) + 1
    assert abs(freqs[peak] - 3_000_000) <= sample_rate / nfft
    assert spectra[1][peak] > 5 * np.median(spectra[1])
    assert spectra[0][peak] < 3 * np.median(spectra[0])  # the other channel is plain noise
