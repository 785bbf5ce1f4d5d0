"""Sample statistics of noise and tone streams: sampler state counts, and an averaged spectrum.

Both come from a subset of each thread's checked frames, and the result says which. State counts
are exact over every ``COUNT_EVERY``-th frame of a thread (states.py: popcounts for 1- and 2-bit
single-channel data, byte tables otherwise), the same frames through the whole recording; the
optimal 2-bit quantiser gives about 16/34/34/16 %. The power spectrum is made from at most
``SPECTRUM_FRAMES`` frames per thread, evenly spaced over the recording, decoded through baseband
(the reference decoder), and must show an injected tone at its frequency. Widths neither kernel
reads (16 and 32 bits) get state counts from the spectrum's sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.expectation import Expectation
from harness.checker.result import Finding, Findings
from harness.checker.shape import StreamShape
from harness.checker.states import StateCounter, state_counter
from harness.formats.vdif.payload import state_counts

COUNT_EVERY = 8
"""State counts take every 8th frame of each thread: counting all of them costs more than the rest of
the check together (2-bit at ~2 GB/s, byte tables at ~0.7 GB/s), and an eighth of a scan is still
millions of samples per channel (tests/checker/test_statistics.py bounds the error)."""
SPECTRUM_FRAMES = 64
"""Frames per thread decoded for the spectrum (and for state counts of widths no kernel reads)."""
NFFT = 512
TONE_MIN_RATIO = 4.0
"""An injected tone (0.3 sigma, 2-bit) stands ~7x above the noise; noise bins vary by a few per cent."""
OUTER_RANGE = (0.10, 0.23)
INNER_RANGE = (0.27, 0.40)
MIN_SAMPLES_FOR_VERDICT = 10_000


class SampleStatistics:
    """Accumulates state counts and spectrum samples per thread rank, window by window."""

    def __init__(self, shape: StreamShape, expect: Expectation, frames_per_thread: int = 0) -> None:
        self.shape = shape
        self.expect = expect
        self.spectrum_every = max(1, frames_per_thread // SPECTRUM_FRAMES)
        """The spectrum takes every so many frames of a thread (from the recording's size), so its sample spans
        the recording: the first frames alone misrepresent a stream that changes (a tone's phase drifting)."""
        n = len(shape.threads)
        self.nchan = [1 << v for v in shape.lg2_nchan]
        self.bits = [v + 1 for v in shape.bits_m1]
        self.components = [2 if c else 1 for c in shape.complex]
        self.counters: list[StateCounter | None] = [
            state_counter(self.bits[t], self.nchan[t], self.components[t], shape.payload_bytes) for t in range(n)]
        self.counts = [np.zeros((self.nchan[t], 1 << self.bits[t]) if self.counters[t] else (0, 0), dtype=np.int64)
                       for t in range(n)]
        self.counted = np.zeros(n, dtype=np.int64)
        """Frames whose states are counted, per thread."""
        self.checked = np.zeros(n, dtype=np.int64)
        """Frames given to the statistics (placed, valid, header sound), per thread: what fractions are of."""
        self.samples: list[list[npt.NDArray[np.uint8]]] = [[] for _ in range(n)]

    def add(self, payloads: npt.NDArray[np.uint64], rank: npt.NDArray[np.int64], use: npt.NDArray[np.bool_]) -> None:
        """A window of frames: ``payloads`` as (frames, words) uint64, ``use`` the frames to take."""
        if not use.any():
            return
        rows = np.flatnonzero(use)
        who = rank[rows]
        for t in np.unique(who).tolist():
            mine = rows[who == t]
            # the thread's frames 0, N, 2N, ... of all windows: the spectrum's until it has its frames, the counts'
            ordinal = int(self.checked[t])
            room = SPECTRUM_FRAMES - len(self.samples[t])
            if room > 0:
                for i in mine[(-ordinal) % self.spectrum_every:: self.spectrum_every][:room].tolist():
                    self.samples[t].append(np.array(payloads[i]).view(np.uint8))
            counter = self.counters[t]
            if counter is not None:
                chosen = mine[(-ordinal) % COUNT_EVERY:: COUNT_EVERY]
                if len(chosen):
                    self.counts[t] += counter(payloads, chosen)
                    self.counted[t] += len(chosen)
            self.checked[t] += len(mine)

    def finish(self, findings: Findings) -> dict[int, dict[str, Any]]:
        """Per thread id: state counts per channel and the averaged spectrum; findings for bad ones."""
        out: dict[int, dict[str, Any]] = {}
        for rank, thread in enumerate(self.shape.threads):
            if not self.checked[rank]:
                continue
            doc: dict[str, Any] = {}
            data = self._decode(rank)
            if self.counters[rank] is not None:
                counts = self.counts[rank]
                frames = int(self.counted[rank])
            else:
                counts = self._sample_states(rank)
                frames = len(self.samples[rank])
            doc["state_counts"] = counts.tolist()
            doc["state_counts_frames"] = frames
            doc["state_counts_fraction"] = self._fraction(rank, frames)
            self._judge_states(thread, rank, counts, findings)
            if data is not None:
                doc["spectrum"] = self._spectrum(thread, rank, data, findings)
            out[thread] = doc
        return out

    def _fraction(self, rank: int, frames: int) -> float:
        """The share of the thread's checked frames a figure comes from (1.0: all of them)."""
        return float(f"{frames / int(self.checked[rank]):.6g}")

    def _sample_states(self, rank: int) -> npt.NDArray[np.int64]:
        if not self.samples[rank]:
            return np.zeros((self.nchan[rank], 1 << min(self.bits[rank], 16)), dtype=np.int64)
        payloads = np.stack(self.samples[rank])
        return state_counts(payloads, self.bits[rank], self.nchan[rank], self.components[rank] == 2)

    def _decode(self, rank: int) -> npt.NDArray[np.floating[Any]] | npt.NDArray[np.complexfloating[Any, Any]] | None:
        """The sampled frames decoded by baseband: ``(frames, samples per frame, nchan)``, or None."""
        if not self.samples[rank]:
            return None
        from baseband.vdif.payload import VDIFPayload  # the reference decoder; imported only when needed

        payloads = np.stack(self.samples[rank])
        try:
            decoded = VDIFPayload(payloads.reshape(-1).view("<u4"), sample_shape=(self.nchan[rank],),
                                  bps=self.bits[rank], complex_data=self.components[rank] == 2).data
        except (ValueError, KeyError):
            return None  # a sample width baseband does not decode: state counts only
        return np.asarray(decoded).reshape(len(payloads), -1, self.nchan[rank])

    def _judge_states(self, thread: int, rank: int, counts: npt.NDArray[np.int64], findings: Findings) -> None:
        if self.bits[rank] != 2:
            return
        for channel, row in enumerate(counts):
            total = int(row.sum())
            if total < MIN_SAMPLES_FOR_VERDICT:
                continue
            share = row / total
            outer_ok = all(OUTER_RANGE[0] <= share[i] <= OUTER_RANGE[1] for i in (0, 3))
            inner_ok = all(INNER_RANGE[0] <= share[i] <= INNER_RANGE[1] for i in (1, 2))
            if not (outer_ok and inner_ok):
                text = "/".join(f"{100 * x:.1f}" for x in share)
                findings.add(Finding("sampler_states", None, None, thread, None,
                                     f"channel {channel}: 2-bit states {text} %, not near 16/34/34/16 %"))

    def _spectrum(self, thread: int, rank: int, data: npt.NDArray[Any], findings: Findings) -> dict[str, Any]:
        frames, per_frame, nchan = data.shape
        complex_ = self.components[rank] == 2
        freq, power = averaged_spectrum(data, complex_, float(self.shape.fps) * per_frame)
        inner = slice(1, None) if not complex_ else slice(None)
        peaks = [float(freq[inner][int(np.argmax(power[inner, c]))]) for c in range(nchan)]
        if self.expect.tone_hz is not None and self.expect.tone_channel < nchan:
            c = self.expect.tone_channel
            at = int(np.argmin(np.abs(freq - self.expect.tone_hz)))
            near = power[max(0, at - 1): at + 2, c].max()
            with np.errstate(divide="ignore", invalid="ignore"):  # a dead channel has no power at all
                ratio = float(np.nan_to_num(near / np.median(power[inner, c])))
            # and not lost in rounding next to a far stronger bin (a stuck sampler is all DC)
            if ratio < TONE_MIN_RATIO or near < 0.01 * power[:, c].max():
                findings.add(Finding("tone_missing", None, None, thread, None,
                                     f"channel {c}: no tone at {self.expect.tone_hz:g} Hz (power there {ratio:.1f}x "
                                     f"the median; strongest at {peaks[c]:g} Hz)"))
        return {"frequency_hz": [float(f"{f:.6g}") for f in freq],
                "power": [[float(f"{p:.6g}") for p in power[:, c]] for c in range(nchan)],
                "peak_hz": peaks, "frames": frames, "fraction": self._fraction(rank, frames),
                "nfft": min(NFFT, per_frame)}


def averaged_spectrum(data: npt.NDArray[Any], complex_: bool,
                      sample_rate: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any]]:
    """Frequencies and the power per channel, ``(bins, nchan)``, of decoded frames ``(frames, samples, nchan)``:
    Hann-windowed ``NFFT``-point spectra of each frame's consecutive segments, averaged."""
    frames, per_frame, nchan = data.shape
    nfft = min(NFFT, per_frame)
    segments = per_frame // nfft
    x = data[:, : segments * nfft, :].reshape(frames * segments, nfft, nchan)
    window = np.hanning(nfft)[None, :, None]  # float64: numpy's float64 transforms run ~1.7x faster than float32
    if complex_:
        spec = np.fft.fftshift(np.fft.fft(x * window, axis=1), axes=1)
        freq = np.fft.fftshift(np.fft.fftfreq(nfft, 1.0 / sample_rate))
    else:
        spec = np.fft.rfft(x.real * window, axis=1)
        freq = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    return freq, (np.abs(spec) ** 2).mean(axis=0) / float((window**2).sum())
