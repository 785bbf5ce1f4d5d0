"""Sampler state counts per channel from packed VDIF payloads, exact over the frames they are given.

Two kernels, chosen by the sample layout (``state_counter``):

- ``PopcountStates``: 1- and 2-bit samples of a single channel (real or complex): popcounts of the
  low bits, the high bits and both, a few passes over 64-bit words (about 2 GB/s for 2-bit).
- ``ByteTableStates``: 1, 2, 4 and 8-bit samples in any power-of-two layout. One ``np.bincount`` of
  the payload bytes, keyed by byte value and by the byte's place in the sample set; a table per
  sample place in a byte then turns those histograms into states per channel. Its cost (about
  0.7 GB/s) does not grow with the channel count.

Other widths (16 and 32 bits, widths that leave padding in a word) get no counter here. Samples are
packed as VDIF has them: the first in the least significant bits, channels interleaved, real before
imaginary.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

BLOCK_BYTES = 1 << 20
"""Frames copied out and counted at a time, so the temporaries stay in cache."""
_LOW = np.uint64(0x5555555555555555)


class StateCounter(Protocol):
    """Counts the states of the samples in some frames of one thread: ``(nchan, 2**bits)``."""

    kind: str

    def __call__(self, payloads: npt.NDArray[np.uint64], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]: ...


def _blocks(payloads: npt.NDArray[np.uint64], rows: npt.NDArray[np.intp]) -> list[npt.NDArray[np.intp]]:
    per_block = max(1, BLOCK_BYTES // max(8, payloads.shape[1] * 8))
    return [rows[i:i + per_block] for i in range(0, len(rows), per_block)]


class PopcountStates:
    """1- or 2-bit samples of one channel (real or complex): popcounts over 64-bit words."""

    kind = "popcount"

    def __init__(self, bits: int, nchan: int) -> None:
        if bits not in (1, 2) or nchan != 1:
            raise ValueError(f"no popcount kernel for {nchan} channels of {bits}-bit samples")
        self.bits = bits

    def __call__(self, payloads: npt.NDArray[np.uint64], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        counts = np.zeros((1, 1 << self.bits), dtype=np.int64)
        for chosen in _blocks(payloads, rows):
            words = payloads[chosen]  # a copy of one block; the high bits are made from it in place
            samples = words.size * (64 // self.bits)
            if self.bits == 1:
                ones = _popcount(words)
                counts[0] += (samples - ones, ones)
                continue
            low = words & _LOW
            words >>= np.uint64(1)
            words &= _LOW  # now the high bits
            n01, n10 = _popcount(low), _popcount(words)
            low &= words
            n11 = _popcount(low)  # both bits set
            counts[0] += (samples - n01 - n10 + n11, n01 - n11, n10 - n11, n11)
        return counts


def _popcount(words: npt.NDArray[np.uint64]) -> int:
    return int(np.add.reduce(np.bitwise_count(words), axis=None, dtype=np.uint64))


class ByteTableStates:
    """1, 2, 4 or 8-bit samples in any power-of-two layout: a byte histogram per place in the sample set."""

    kind = "byte table"

    def __init__(self, bits: int, nchan: int, components: int, payload_bytes: int) -> None:
        set_bits = bits * nchan * components
        if bits not in (1, 2, 4, 8) or set_bits & (set_bits - 1):
            raise ValueError(f"no byte table for {bits}-bit samples in {set_bits}-bit sample sets")
        self.places = max(1, set_bits // 8)
        """Bytes of one sample set (1 when a byte holds whole sets): bytes in the same place hold the same channels."""
        if payload_bytes % self.places:
            raise ValueError(f"a {payload_bytes}-byte payload does not hold whole {set_bits}-bit sample sets")
        self.bits, self.nchan = bits, nchan
        per_byte = 8 // bits
        values = np.arange(256)
        shifts = bits * np.arange(per_byte)
        states = (values[:, None] >> shifts[None, :]) & ((1 << bits) - 1)  # (byte value, sample in the byte)
        self.table = (states[:, :, None] == np.arange(1 << bits)).astype(np.int64).transpose(1, 0, 2)
        """(sample in the byte, byte value, state): 1 where that sample of that byte value is in that state."""
        place, sample = np.meshgrid(np.arange(self.places), np.arange(per_byte), indexing="ij")
        self.channel = ((place * per_byte + sample) // components) % nchan
        """(place, sample in the byte): the channel the sample belongs to."""

    def __call__(self, payloads: npt.NDArray[np.uint64], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        histogram = np.zeros((self.places, 256), dtype=np.int64)
        for chosen in _blocks(payloads, rows):
            octets = payloads[chosen].view(np.uint8).reshape(-1, self.places)
            for place in range(self.places):  # one bincount per place beats one over keys offset by place
                histogram[place] += np.bincount(octets[:, place], minlength=256)
        # per place and sample in the byte, the states over all byte values; then summed into their channels
        per_sample = np.einsum("pv,kvs->pks", histogram, self.table)
        counts = np.zeros((self.nchan, 1 << self.bits), dtype=np.int64)
        np.add.at(counts, self.channel, per_sample)
        return counts


def state_counter(bits: int, nchan: int, components: int, payload_bytes: int) -> StateCounter | None:
    """The fastest exact counter for this layout, or None for sample widths neither kernel reads."""
    if bits in (1, 2) and nchan == 1:
        return PopcountStates(bits, nchan)
    try:
        return ByteTableStates(bits, nchan, components, payload_bytes)
    except ValueError:
        return None
