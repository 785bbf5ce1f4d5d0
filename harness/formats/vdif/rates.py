"""Rate arithmetic for an observing mode: samples -> bits -> frames per second per thread.

Also jive5ab's canonical mode string ``VDIF_<payload>-<Mbps>-<nchan>-<bits>`` (``VDIFL_`` for
legacy headers, ``VDIFC_`` for complex samples), where Mbps is the data rate of one thread's
payload: jive5ab does not configure threads, it records every thread it receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from harness.formats.vdif.header import HEADER_BYTES, LEGACY_HEADER_BYTES

MAX_FRAME_NR = (1 << 24) - 1


class RateError(ValueError):
    """An observing mode that does not give a legal VDIF frame rate."""


@dataclass(frozen=True)
class ObservingMode:
    """What one VDIF thread carries: channels x samples of ``bits`` at ``sample_rate`` Hz."""

    sample_rate: Fraction
    nchan: int = 1
    bits: int = 2
    complex: bool = False
    payload_bytes: int = 8000
    legacy: bool = False

    def __post_init__(self) -> None:
        if self.nchan < 1 or self.nchan & (self.nchan - 1):
            raise RateError(f"{self.nchan} channels: VDIF needs a power of two")
        if not 1 <= self.bits <= 32:
            raise RateError(f"{self.bits} bits per sample: VDIF allows 1..32")
        if self.payload_bytes <= 0 or self.payload_bytes % 8:
            raise RateError(f"payload of {self.payload_bytes} bytes is not a positive multiple of 8")

    @property
    def bits_per_sample_set(self) -> int:
        """Bits of one time sample over all channels (real and imaginary parts)."""
        return self.nchan * self.bits * (2 if self.complex else 1)

    @property
    def bits_per_second(self) -> Fraction:
        """Payload bit rate of one thread."""
        return Fraction(self.sample_rate) * self.bits_per_sample_set

    @property
    def header_bytes(self) -> int:
        return LEGACY_HEADER_BYTES if self.legacy else HEADER_BYTES

    @property
    def frame_bytes(self) -> int:
        return self.payload_bytes + self.header_bytes

    @property
    def samples_per_frame(self) -> int:
        """Time samples per frame; samples never straddle a 32-bit word (VDIF rule)."""
        component_bits = self.bits * (2 if self.complex else 1)
        per_word = 32 // component_bits if component_bits <= 32 else 0
        if per_word == 0 or (self.payload_bytes // 4 * per_word) % self.nchan:
            raise RateError(f"a {self.payload_bytes}-byte payload does not hold whole sample sets")
        return self.payload_bytes // 4 * per_word // self.nchan

    @property
    def frames_per_second(self) -> int:
        """Frames per second per thread; refused unless a whole number (VDIF 1.0)."""
        rate = self.bits_per_second / (8 * self.payload_bytes)
        if rate.denominator != 1:
            raise RateError(
                f"{float(self.bits_per_second) / 1e6:g} Mbit/s in {self.payload_bytes}-byte payloads "
                f"gives {float(rate):.4f} frames/s, not a whole number; payload sizes that work "
                f"nearby: {', '.join(map(str, nearest_payloads(self.bits_per_second, self.payload_bytes)))}"
            )
        if rate > MAX_FRAME_NR + 1:
            raise RateError(f"{rate} frames/s exceeds the 24-bit frame number")
        return int(rate)

    @property
    def mode_string(self) -> str:
        prefix = "VDIF" + ("L" if self.legacy else "") + ("C" if self.complex else "")
        mbps = self.bits_per_second / 1_000_000
        rate = str(mbps.numerator) if mbps.denominator == 1 else f"{mbps.numerator}/{mbps.denominator}"
        return f"{prefix}_{self.payload_bytes}-{rate}-{self.nchan}-{self.bits}"

    @classmethod
    def from_frame_rate(
        cls, fps: int, *, payload_bytes: int, nchan: int = 1, bits: int = 2,
        complex: bool = False, legacy: bool = False,
    ) -> ObservingMode:
        """The mode that sends ``fps`` frames per second per thread."""
        bits_per_set = nchan * bits * (2 if complex else 1)
        sample_rate = Fraction(fps * payload_bytes * 8, bits_per_set)
        return cls(sample_rate, nchan, bits, complex, payload_bytes, legacy)


_MODE = re.compile(
    r"^VDIF(?P<flags>[LC]*)_(?P<payload>\d+)-(?P<mbps>\d+(?:\.\d+)?(?:/\d+)?)-(?P<nchan>\d+)-(?P<bits>\d+)(?:/\d+)?$",
    re.IGNORECASE,
)


def parse_mode(text: str) -> ObservingMode:
    """Parse ``VDIF_<payload>-<Mbps>-<nchan>-<bits>`` (jive5ab's and mark5access's spelling)."""
    match = _MODE.match(text.strip())
    if not match:
        raise RateError(f"mode {text!r} is not VDIF[L][C]_<payload>-<Mbps>-<nchan>-<bits>")
    flags = match["flags"].upper()
    complex_ = "C" in flags
    nchan, bits = int(match["nchan"]), int(match["bits"])
    mbps = Fraction(match["mbps"])
    bits_per_set = nchan * bits * (2 if complex_ else 1)
    mode = ObservingMode(
        sample_rate=mbps * 1_000_000 / bits_per_set,
        nchan=nchan, bits=bits, complex=complex_,
        payload_bytes=int(match["payload"]), legacy="L" in flags,
    )
    mode.frames_per_second  # noqa: B018 - refuses a non-integer rate here, with its message
    return mode


def nearest_payloads(bits_per_second: Fraction, payload_bytes: int, count: int = 2) -> list[int]:
    """Payload sizes (multiples of 8) nearest to ``payload_bytes`` that give whole frame rates."""
    below: list[int] = []
    above: list[int] = []
    for step in range(1, 1 << 20):
        for candidate, found in ((payload_bytes - 8 * step, below), (payload_bytes + 8 * step, above)):
            if candidate > 0 and len(found) < count and (bits_per_second / (8 * candidate)).denominator == 1:
                found.append(candidate)
        if (len(below) >= count and len(above) >= count) or (payload_bytes - 8 * step <= 0 and len(above) >= count):
            break
    return sorted(below[:count] + above[:count])
