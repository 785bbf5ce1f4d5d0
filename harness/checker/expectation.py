"""What the checker is told about the stream it checks; everything left ``None`` is inferred.

An `Expectation` holds plain values only, so it pickles to a worker process. The scenario engine
fills it from the scenario's stream; for an external source (a real CBF) it gives the declared
stream with ``payload=None`` (every check but payload integrity) and the capture window: frames
the window should hold but the recording lacks at its start or end are findings, and missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.checker.errors import CheckerError
from harness.formats.registry import frame_format
from harness.formats.vdif.header import HeaderError, station_id

PAYLOAD_KINDS = ("pattern", "noise", "tone")
LEGACY = "legacy"


@dataclass(frozen=True)
class Expectation:
    """The stream a recording should hold (all optional)."""

    frame_bytes: int | None = None
    threads: tuple[int, ...] | None = None
    fps: int | None = None
    """Frames per second per thread; inferred from the frame numbers when ``None``."""
    payload: str | None = None
    """``pattern`` (verified frame by frame), ``noise``/``tone`` (sample statistics) or ``None`` (external)."""
    station: int | str | None = None
    bits: int | None = None
    nchan: int | None = None
    complex: bool | None = None
    edv: int | str | None = None
    """An EDV number, ``"legacy"`` for 16-byte headers, or ``None`` to take it from the data."""
    tone_hz: float | None = None
    tone_channel: int = 0
    expected_frames: int | None = None
    """Frames the recording should hold in all (e.g. what the sender sent); a shortfall is a finding."""
    statistics: bool | None = None
    """Sample statistics (state counts, spectrum): ``None`` = for noise and tone payloads only."""
    window_start: float | None = None
    window_end: float | None = None
    """The capture window (POSIX seconds, e.g. record=on .. record=off): frames starting from ``window_start +
    window_tolerance_s`` to ``window_end - window_tolerance_s`` are due; those absent are findings."""
    schedule_start: float | None = None
    schedule_end: float | None = None
    """The source's schedule (POSIX seconds: its first frame's start, its last frame's end), where the harness
    sent the stream: the per-second loss profile judges each second against the frames of it due there."""
    window_tolerance_s: float = 0.5
    """Recorder start/stop latency (and clock offset) allowed at each end of the window."""
    reorder_window: int = 64
    """Frames (per thread) a frame may arrive late and count as out of order; further back is time going back."""
    max_findings: int = 10
    """Findings kept in full per kind (all are counted)."""
    format: str = "vdif"
    """The recording format, a name of ``harness.formats.registry.FORMATS``."""
    header_values: tuple[tuple[str, int], ...] = ()
    """(field, value) every header should hold, for a format's own fields (LWA RBeam: chan0, nbeam, nserver)."""

    def __post_init__(self) -> None:
        try:
            fmt = frame_format(self.format)
        except ValueError as exc:
            raise CheckerError(None, str(exc)) from None
        object.__setattr__(self, "format", fmt.name)
        if self.frame_bytes is not None and (self.frame_bytes < 40 or self.frame_bytes % 8):
            raise CheckerError(None, f"frame size {self.frame_bytes} is not a multiple of 8 bytes of at least 40")
        if self.frame_bytes is not None:
            try:
                fmt.frame_bytes(self.frame_bytes - fmt.header_bytes)  # Mark5B's frames are 10016 bytes
            except ValueError as exc:
                raise CheckerError(None, str(exc)) from None
        if self.threads is not None:
            threads = tuple(int(t) for t in self.threads)
            if not threads or len(set(threads)) != len(threads) or not all(0 <= t <= 1023 for t in threads):
                raise CheckerError(None, f"threads {self.threads} must be distinct ids in 0..1023")
            object.__setattr__(self, "threads", tuple(sorted(threads)))
        if self.fps is not None and not 0 < self.fps <= 1 << 24:
            raise CheckerError(None, f"frame rate {self.fps} is outside 1..16777216 frames/s")
        if self.payload is not None and self.payload not in PAYLOAD_KINDS:
            raise CheckerError(None, f"payload {self.payload!r} is not one of {', '.join(PAYLOAD_KINDS)} (or none)")
        if self.payload == "tone" and self.tone_hz is None:
            raise CheckerError(None, "a tone payload needs the tone frequency (tone_hz)")
        if self.station is not None:
            try:
                object.__setattr__(self, "station", station_id(self.station))
            except HeaderError as exc:
                raise CheckerError(None, str(exc)) from None
        if self.bits is not None and not 1 <= self.bits <= 32:
            raise CheckerError(None, f"{self.bits} bits per sample: VDIF allows 1..32")
        if self.nchan is not None and (self.nchan < 1 or (self.format == "vdif" and self.nchan & (self.nchan - 1))):
            raise CheckerError(None, f"{self.nchan} channels: VDIF needs a power of two")
        if isinstance(self.edv, str) and self.edv != LEGACY:
            try:
                object.__setattr__(self, "edv", int(self.edv))
            except ValueError:
                raise CheckerError(None, f"EDV {self.edv!r} is neither a number nor 'legacy'") from None
        if isinstance(self.edv, int) and not 0 <= self.edv <= 255:
            raise CheckerError(None, f"EDV {self.edv} is outside 0..255")
        if (self.window_start is None) != (self.window_end is None):
            raise CheckerError(None, "a capture window needs both its start and its end")
        if self.window_start is not None and self.window_end is not None and self.window_end < self.window_start:
            raise CheckerError(None, f"capture window ends ({self.window_end}) before it starts ({self.window_start})")
        if (self.schedule_start is None) != (self.schedule_end is None):
            raise CheckerError(None, "a schedule needs both its start and its end")
        if self.schedule_start is not None and self.schedule_end is not None \
                and self.schedule_end < self.schedule_start:
            raise CheckerError(None, f"schedule ends ({self.schedule_end}) before it starts ({self.schedule_start})")
        if not self.window_tolerance_s >= 0:
            raise CheckerError(None, f"window tolerance {self.window_tolerance_s} s must not be negative")
        if self.reorder_window < 1:
            raise CheckerError(None, f"reorder window {self.reorder_window} must be at least one frame")
        if self.max_findings < 0:
            raise CheckerError(None, "max_findings must not be negative")

    @property
    def legacy(self) -> bool | None:
        """True for 16-byte headers, False for 32-byte ones, None when the data decide."""
        if self.edv is None:
            return None
        return self.edv == LEGACY

    @property
    def wants_statistics(self) -> bool:
        if self.statistics is not None:
            return self.statistics
        return self.payload in ("noise", "tone")
