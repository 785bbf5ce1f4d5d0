"""Sampler state counts and spectra of the last noise or tone scan; plain values."""

from __future__ import annotations

import numpy as np

from harness.report.statistics import ChannelStates, ThreadSpectrum, last_statistics, peaks_of, thread_statistics


def test_optimal_two_bit_levels_pass_and_skewed_ones_are_flagged():
    assert ChannelStates(0, (1632, 3368, 3368, 1632)).levels_ok is True
    assert ChannelStates(0, (1900, 3100, 3100, 1900)).levels_ok is False
    assert ChannelStates(0, (50, 50)).levels_ok is None  # 1-bit: no 2-bit rule
    assert ChannelStates(0, (0, 0, 0, 0)).levels_ok is None
    assert ChannelStates(0, (1, 3)).fractions == (0.25, 0.75)


def test_a_tone_stands_out_as_a_peak_and_flat_noise_does_not():
    freq = np.linspace(0, 32e6, 256, endpoint=False)
    flat = np.ones(256)
    tone = flat.copy()
    tone[40] = 30.0
    peaks = peaks_of(ThreadSpectrum(freq, [flat, tone]))
    assert len(peaks) == 1
    assert (peaks[0].channel, peaks[0].frequency_hz) == (1, 5e6)
    assert 14.7 < peaks[0].above_median_db < 14.8


def test_threads_sorted_numerically_and_malformed_entries_left_out():
    stats = {
        "10": {"state_counts": [[1, 2, 2, 1]]},
        "2": {"state_counts": [[1, 2, 2, 1], [1, -2, 2, 1], "x"],
              "spectrum": {"frequency_hz": [0, 1, 2], "power": [[1, 1, 1], [1, 1]]}},
        "3": {"spectrum": {"frequency_hz": "none", "power": [[1]]}},
        "4": None,
    }
    threads = thread_statistics(stats)
    assert [t.thread for t in threads] == ["2", "10"]
    assert len(threads[0].states) == 1
    assert threads[0].spectrum is not None and len(threads[0].spectrum.power) == 1


def test_the_last_scan_with_statistics_is_chosen():
    scans = [
        {"name": "noise_1", "check": {"statistics": {"0": {"state_counts": [[1, 2, 2, 1]]}}}},
        {"name": "noise_2", "check": {"statistics": {"0": {"state_counts": [[2, 4, 4, 2]]}}}},
        {"name": "pattern", "check": {"frames": 10}},
        {"name": "broken", "check": {"statistics": {"0": {"state_counts": "?"}}}},
    ]
    chosen = last_statistics(scans)
    assert chosen is not None and chosen.scan == "noise_2"
    assert last_statistics([{"name": "pattern"}]) is None
