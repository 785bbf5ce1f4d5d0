"""Sample statistics of noise and tone streams: sampler state counts, and an averaged spectrum.

State counts of 2-bit data are taken over every checked frame with popcounts on 64-bit words
(for each channel, how many samples are 01, 10 and 11), so they cost a few passes at memory
speed; the optimal quantiser gives about 16/34/34/16 %. The power spectrum is made from a bounded
sample of frames per thread, decoded through baseband (the reference decoder), and must show an
injected tone at its frequency. Other bit widths get state counts from that sample only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.expectation import Expectation
from harness.checker.result import Finding, Findings
from harness.checker.shape import StreamShape
from harness.formats.vdif.payload import state_counts

SPECTRUM_FRAMES = 64
"""Frames per thread decoded for the spectrum (and for state counts of other than 2-bit data)."""
NFFT = 512
TONE_MIN_RATIO = 4.0
"""An injected tone (0.3 sigma, 2-bit) stands ~7x above the noise; noise bins vary by a few per cent."""
OUTER_RANGE = (0.10, 0.23)
INNER_RANGE = (0.27, 0.40)
MIN_SAMPLES_FOR_VERDICT = 10_000
_LOW = np.uint64(0x5555555555555555)


class SampleStatistics:
    """Accumulates state counts and spectrum samples per thread rank, window by window."""

    def __init__(self, shape: StreamShape, expect: Expectation, windows: int = 1) -> None:
        self.shape = shape
        self.expect = expect
        self.per_window = max(1, -(-SPECTRUM_FRAMES // max(1, windows)))
        """Frames per thread taken for the spectrum from each window, so the sample spans the recording."""
        n = len(shape.threads)
        self.nchan = [1 << v for v in shape.lg2_nchan]
        self.bits = [v + 1 for v in shape.bits_m1]
        self.components = [2 if c else 1 for c in shape.complex]
        masks = [self._channel_masks(t) for t in range(n)]
        self.popcounted = np.array([m is not None for m in masks] + [False])
        """Threads whose states are counted in every frame (2-bit samples, at most 32 per set); last: none."""
        width = max(self.nchan)
        self.masks = np.zeros((n + 1, width), dtype=np.uint64)
        for t, m in enumerate(masks):
            if m is not None:
                self.masks[t, : len(m)] = m
        self.counts = np.zeros((n, width, 4), dtype=np.int64)
        self.counted = np.zeros(n, dtype=np.int64)
        self.samples: list[list[npt.NDArray[np.uint8]]] = [[] for _ in range(n)]

    def _channel_masks(self, rank: int) -> list[np.uint64] | None:
        """Per channel, the low bit of each of its 2-bit components in a 64-bit word (None: not 2-bit or too wide)."""
        per_set = self.nchan[rank] * self.components[rank]
        if self.bits[rank] != 2 or per_set > 32 or 32 % per_set:
            return None
        masks = []
        for channel in range(self.nchan[rank]):
            m = 0
            for j in range(32):
                if (j % per_set) // self.components[rank] == channel:
                    m |= 1 << (2 * j)
            masks.append(np.uint64(m))
        return masks

    def add(self, payloads: npt.NDArray[np.uint64], rank: npt.NDArray[np.int64], use: npt.NDArray[np.bool_]) -> None:
        """A window of frames: ``payloads`` as (frames, words) uint64, ``use`` the frames to count."""
        if not use.any():
            return
        rows = np.flatnonzero(use)
        for t in np.unique(rank[rows]).tolist():
            room = min(SPECTRUM_FRAMES - len(self.samples[t]), self.per_window)
            for i in rows[rank[rows] == t][: max(room, 0)].tolist():
                self.samples[t].append(np.array(payloads[i]).view(np.uint8))
        rows = rows[self.popcounted[rank[rows]]]
        if not len(rows):
            return
        n_threads = len(self.counted)
        self.counted += np.bincount(rank[rows], minlength=n_threads)
        block = max(1, (1 << 20) // max(8, payloads.shape[1] * 8))
        for start in range(0, len(rows), block):
            chosen = rows[start:start + block]
            who = rank[chosen]
            high = payloads[chosen]  # a copy of one block, turned into the high bits in place
            low = high & _LOW
            high >>= np.uint64(1)
            high &= _LOW
            both = low & high
            for channel in range(self.masks.shape[1]):
                # per frame: samples of this channel whose low bit, high bit, both bits are set
                m = self.masks[who, channel][:, None]
                ones = np.bitwise_count(low & m).sum(axis=1, dtype=np.int64)
                twos = np.bitwise_count(high & m).sum(axis=1, dtype=np.int64)
                threes = np.bitwise_count(both & m).sum(axis=1, dtype=np.int64)
                total = np.bitwise_count(m[:, 0]).astype(np.int64) * payloads.shape[1]
                n01, n10, n11, n = (np.bincount(who, weights=x, minlength=n_threads).astype(np.int64)
                                    for x in (ones, twos, threes, total))
                self.counts[:, channel] += np.stack([n - n01 - n10 + n11, n01 - n11, n10 - n11, n11], axis=1)

    def finish(self, findings: Findings) -> dict[int, dict[str, Any]]:
        """Per thread id: state counts per channel and the averaged spectrum; findings for bad ones."""
        out: dict[int, dict[str, Any]] = {}
        for rank, thread in enumerate(self.shape.threads):
            if not self.samples[rank] and not self.counted[rank]:
                continue
            doc: dict[str, Any] = {}
            data = self._decode(rank)
            if self.popcounted[rank]:
                counts = self.counts[rank, : self.nchan[rank]]
                doc["state_counts_frames"] = int(self.counted[rank])
            else:
                counts = self._sample_states(rank)
                doc["state_counts_frames"] = len(self.samples[rank])
            doc["state_counts"] = counts.tolist()
            self._judge_states(thread, rank, counts, findings)
            if data is not None:
                doc["spectrum"] = self._spectrum(thread, rank, data, findings)
            out[thread] = doc
        return out

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
        nfft = min(NFFT, per_frame)
        segments = per_frame // nfft
        x = data[:, : segments * nfft, :].reshape(frames * segments, nfft, nchan)
        window = np.hanning(nfft).astype(np.float32)[None, :, None]
        complex_ = self.components[rank] == 2
        sample_rate = float(self.shape.fps) * per_frame
        if complex_:
            spec = np.fft.fftshift(np.fft.fft(x * window, axis=1), axes=1)
            freq = np.fft.fftshift(np.fft.fftfreq(nfft, 1.0 / sample_rate))
        else:
            spec = np.fft.rfft(x.real * window, axis=1)
            freq = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
        power = (np.abs(spec) ** 2).mean(axis=0) / float((window**2).sum())  # (bins, nchan)
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
                "peak_hz": peaks, "frames": frames, "nfft": nfft}
