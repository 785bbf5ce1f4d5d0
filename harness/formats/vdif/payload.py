"""Payload kinds: ``pattern`` (every frame verifiable on its own), ``noise`` and ``tone``.

``pattern``: each 64-bit payload word is ``key ^ ROW[i]`` where ``key`` mixes (station, thread,
second, frame number) and ``ROW`` is a fixed sequence; one XOR per 8 bytes, so generation and
verification both run at memory speed, and a frame moved, duplicated or corrupted anywhere shows.

``noise``/``tone``: Gaussian noise (plus a sine for ``tone``) quantised to ``bits`` and packed as
VDIF samples (first sample in the least significant bits of each little-endian 32-bit word,
channels interleaved, real before imaginary). Drawn from a pool generated once, so the sender
never waits on a random number generator.

The pattern itself lives in ``harness.formats.pattern`` (shared by every format); it is re-exported
here under its old names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from harness.formats.pattern import pattern_keys, pattern_row, write_pattern

__all__ = [
    "OPTIMAL_2BIT_THRESHOLD", "PayloadKind", "Tone", "pack_samples", "pattern_keys", "pattern_row",
    "quantise", "sample_pool", "state_counts", "unpack_samples", "write_pattern",
]

OPTIMAL_2BIT_THRESHOLD = 0.9816
"""Threshold (in sigma) of the optimal 2-bit quantiser (Max 1960): states ~16.3/33.7/33.7/16.3 %."""


class PayloadKind(StrEnum):
    PATTERN = "pattern"
    NOISE = "noise"
    TONE = "tone"


def quantise(x: npt.NDArray[np.floating], bits: int) -> npt.NDArray[np.uint32]:
    """Quantise unit-sigma samples to offset-binary states of ``bits`` bits."""
    if bits == 1:
        return (x > 0).astype(np.uint32)
    if bits == 2:
        t = OPTIMAL_2BIT_THRESHOLD
        states = (x > -t).astype(np.uint32)
        states += x > 0
        states += x > t
        return states
    levels = 1 << bits
    step = 8.0 / levels  # levels span +-4 sigma
    return np.clip(np.floor(x / step) + levels // 2, 0, levels - 1).astype(np.uint32)


def pack_samples(states: npt.NDArray[np.uint32], bits: int) -> npt.NDArray[np.uint8]:
    """Pack states (in time order, channels interleaved) into little-endian 32-bit words."""
    if 32 % bits:
        raise ValueError(f"{bits}-bit samples cannot be packed by this generator (needs 32 % bits == 0)")
    per_word = 32 // bits
    grouped = states.reshape(-1, per_word).astype(np.uint64)
    shifts = np.arange(per_word, dtype=np.uint64) * np.uint64(bits)
    words = np.bitwise_or.reduce(grouped << shifts, axis=1).astype(np.uint32)
    return words.astype("<u4").view(np.uint8)


def unpack_samples(payload: npt.NDArray[np.uint8], bits: int) -> npt.NDArray[np.uint32]:
    """States of every sample in a payload (inverse of ``pack_samples``)."""
    words = np.ascontiguousarray(payload).view("<u4").astype(np.uint32)
    per_word = 32 // bits
    shifts = np.arange(per_word, dtype=np.uint32) * np.uint32(bits)
    mask = np.uint32((1 << bits) - 1) if bits < 32 else np.uint32(0xFFFFFFFF)
    return ((words[:, None] >> shifts[None, :]) & mask).reshape(-1)


@dataclass(frozen=True)
class Tone:
    """A sine of ``frequency`` Hz (within the channel's band) in ``channel``, amplitude in sigma."""

    frequency: float
    channel: int = 0
    amplitude: float = 0.3


def sample_pool(
    *, payload_bytes: int, nchan: int, bits: int, complex_: bool, sample_rate: float,
    tone: Tone | None = None, pool_bytes: int = 4 << 20, seed: int = 20260701,
) -> npt.NDArray[np.uint8]:
    """A ``(rows, payload_bytes)`` pool of quantised noise (or noise plus tone) payloads.

    The rows are consecutive in time, so a tone keeps its phase from row to row.
    """
    rows = max(4, pool_bytes // payload_bytes)
    components = 2 if complex_ else 1
    nsamples = rows * payload_bytes * 8 // bits // (nchan * components)
    rng = np.random.default_rng(seed)
    # each component (real, imaginary) has unit sigma, so the optimal thresholds apply to each
    x = rng.standard_normal((nsamples, nchan, components), dtype=np.float32)
    if tone is not None:
        if not 0 <= tone.channel < nchan:
            raise ValueError(f"tone channel {tone.channel} is outside 0..{nchan - 1}")
        phase = (2 * np.pi * tone.frequency / sample_rate * np.arange(nsamples)).astype(np.float32)
        x[:, tone.channel, 0] += tone.amplitude * np.sin(phase)
        if complex_:
            x[:, tone.channel, 1] -= tone.amplitude * np.cos(phase)
    packed = pack_samples(quantise(x.reshape(-1), bits), bits)
    return packed[: rows * payload_bytes].reshape(rows, payload_bytes)


def state_counts(payloads: npt.NDArray[np.uint8], bits: int, nchan: int, complex_: bool) -> npt.NDArray[np.int64]:
    """Sampler state counts per channel: ``(nchan, 2**bits)`` (real and imaginary together)."""
    states = unpack_samples(payloads.reshape(-1), bits).reshape(-1, nchan, 2 if complex_ else 1)
    counts = np.zeros((nchan, 1 << bits), dtype=np.int64)
    for channel in range(nchan):
        counts[channel] = np.bincount(states[:, channel, :].reshape(-1), minlength=1 << bits)
    return counts
