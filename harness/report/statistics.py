"""Sample statistics of the last noise or tone scan: sampler state counts and averaged spectra.

The JIVE/EVN practice this follows: give the operator condensed quality information at a glance.
For 2-bit samples quantised at the optimal thresholds (±0.9816 σ) the four states should hold
about 16.3 / 33.7 / 33.7 / 16.3 % of the samples; a sampler whose levels are off shows here first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.report.results import as_list, as_mapping, as_number, as_text

OPTIMAL_2BIT = (0.1632, 0.3368, 0.3368, 0.1632)
LEVEL_TOLERANCE = 0.02
"""A state more than 2 percentage points from its optimal share is flagged."""
PEAK_DB = 6.0
"""A spectral channel this far above the median power is reported as a peak (a tone, an RFI line)."""


@dataclass(frozen=True)
class ChannelStates:
    channel: int
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def fractions(self) -> tuple[float, ...]:
        total = self.total
        return tuple(c / total for c in self.counts) if total else tuple(0.0 for _ in self.counts)

    @property
    def levels_ok(self) -> bool | None:
        """Whether a 2-bit sampler's state shares are near optimal; None for other bit widths."""
        if len(self.counts) != 4 or not self.total:
            return None
        return all(abs(f - o) <= LEVEL_TOLERANCE for f, o in zip(self.fractions, OPTIMAL_2BIT, strict=True))


@dataclass(frozen=True)
class Peak:
    channel: int
    frequency_hz: float
    above_median_db: float


@dataclass(frozen=True)
class ThreadSpectrum:
    frequency_hz: np.ndarray
    power: list[np.ndarray]  # per channel, same length as frequency_hz


@dataclass(frozen=True)
class ThreadStatistics:
    thread: str
    states: list[ChannelStates]
    spectrum: ThreadSpectrum | None
    peaks: list[Peak]


@dataclass(frozen=True)
class ScanStatistics:
    scan: str
    threads: list[ThreadStatistics]


def _thread_key(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (1 << 30, key)


def _states(raw: Any) -> list[ChannelStates]:
    out = []
    for channel, counts in enumerate(as_list(raw)):
        numbers = [as_number(c) for c in as_list(counts)]
        if numbers and all(n is not None and n >= 0 for n in numbers):
            out.append(ChannelStates(channel, tuple(int(n) for n in numbers if n is not None)))
    return out


def _spectrum(raw: Any) -> ThreadSpectrum | None:
    spec = as_mapping(raw)
    try:
        freq = np.asarray(as_list(spec.get("frequency_hz")), dtype=float)
        power = [np.asarray(p, dtype=float) for p in as_list(spec.get("power"))]
    except (TypeError, ValueError):
        return None
    power = [p for p in power if p.ndim == 1 and len(p) == len(freq)]
    if freq.ndim != 1 or len(freq) < 2 or not power:
        return None
    return ThreadSpectrum(freq, power)


def peaks_of(spectrum: ThreadSpectrum, threshold_db: float = PEAK_DB) -> list[Peak]:
    """The strongest channel of each power spectrum, where it stands out from the median."""
    peaks = []
    for channel, power in enumerate(spectrum.power):
        finite = power[np.isfinite(power) & (power > 0)]
        if not len(finite):
            continue
        median = float(np.median(finite))
        i = int(np.nanargmax(np.where(np.isfinite(power), power, -np.inf)))
        db = 10 * np.log10(power[i] / median) if median > 0 and power[i] > 0 else 0.0
        if db >= threshold_db:
            peaks.append(Peak(channel, float(spectrum.frequency_hz[i]), float(db)))
    return peaks


def thread_statistics(statistics: Mapping[str, Any]) -> list[ThreadStatistics]:
    threads = []
    for key in sorted((str(k) for k in statistics), key=_thread_key):
        raw = as_mapping(statistics.get(key))
        states = _states(raw.get("state_counts"))
        spectrum = _spectrum(raw.get("spectrum"))
        if states or spectrum:
            threads.append(ThreadStatistics(key, states, spectrum, peaks_of(spectrum) if spectrum else []))
    return threads


def last_statistics(scans: Sequence[Any]) -> ScanStatistics | None:
    """Statistics of the last scan whose checker output has them (noise and tone payloads only)."""
    for index in range(len(scans) - 1, -1, -1):
        scan = as_mapping(scans[index])
        stats = as_mapping(as_mapping(scan.get("check")).get("statistics"))
        threads = thread_statistics(stats) if stats else []
        if threads:
            return ScanStatistics(as_text(scan.get("name")) or f"scan {index + 1}", threads)
    return None
