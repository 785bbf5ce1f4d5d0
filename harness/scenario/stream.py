"""The scenario's stream section: what is sent (or, for an external source, should arrive), in which format, at which
rate; its sizes and rates as the recorder and the checker see them."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.formats.vdif.header import station_id
from harness.formats.vdif.rates import RateError, parse_mode
from harness.formats.vdif.stream import SEQUENCE_BYTES
from harness.scenario.stream_format import (
    NO_SENDER,
    OWN_FIELDS,
    TAKES,
    VDIF_FIELDS,
    FieldRefused,
    FormatSpec,
    format_spec,
    own_values,
    refused_field,
    spec_field,
)

STRICT = ConfigDict(extra="forbid", frozen=True)
"""Every section of a scenario: unknown keys refused, values frozen."""


class ToneSpec(BaseModel):
    model_config = STRICT

    frequency_hz: float = Field(gt=0)
    channel: int = Field(0, ge=0)
    amplitude: float = Field(0.3, gt=0)


class Stream(BaseModel):
    model_config = STRICT

    source: Literal["harness", "external"] = "harness"
    format: Literal["vdif", "mark5b", "lwa_rbeam"] = "vdif"
    payload_bytes: int = Field(8000, gt=0, multiple_of=8)
    threads: int = Field(1, ge=1, le=1024)
    bits: int = Field(2, ge=1, le=32)
    channels: int = Field(1, ge=1)
    complex: bool = False
    station: str | int = "HX"
    edv: Literal[0, 1, 3, 4, "legacy"] = 0
    payload: Literal["pattern", "noise", "tone"] = "pattern"
    tone: ToneSpec | None = None
    udps: bool = True
    fps: int | None = Field(None, gt=0, description="frames per second per thread")
    mode: str | None = Field(None, description="VDIF_<payload>-<Mbps>-<nchan>-<bits>; sets fps")
    destination: str | None = Field(None, description="default: the recorder node's data address")
    port: int = Field(52030, gt=0, lt=65536)
    multicast: str | None = None
    frame_parts: int | None = Field(None, description="mark5b: datagrams per 10016-byte frame, 1, 2 or 4 (default 2, "
                                                       "what fits MTU 9000)")
    servers: int | None = Field(None, ge=1, le=255, description="lwa_rbeam: servers 1..N, each a thread (default 1)")
    chan0: int | None = Field(None, ge=0, le=0xFFFF, description="lwa_rbeam: the first channel of each packet")

    @field_validator("format", mode="before")
    @classmethod
    def _sendable(cls, value: Any) -> Any:
        if isinstance(value, str) and value in NO_SENDER:
            raise ValueError(f"{value}: {NO_SENDER[value]}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_mode(cls, data: Any) -> Any:
        """A mode fixes payload size, bits, channels, complex and legacy headers: filled in, contradictions refused.
        An LWA RBeam stream has no sequence numbers: ``udps`` defaults to false for it."""
        if isinstance(data, dict) and data.get("format") == "lwa_rbeam" and "udps" not in data:
            data = {**data, "udps": False}
        if not isinstance(data, dict) or not isinstance(data.get("mode"), str):
            return data
        try:
            mode = parse_mode(data["mode"])
        except RateError:
            return data  # the mode field's own validator names the problem
        derived = {"payload_bytes": mode.payload_bytes, "bits": mode.bits, "channels": mode.nchan,
                   "complex": mode.complex}
        data = dict(data)
        for key, value in derived.items():
            if key in data and data[key] != value:
                raise ValueError(f"{key} {data[key]!r} contradicts mode {data['mode']} ({value!r})")
            data[key] = value
        if mode.legacy != (data.get("edv") == "legacy"):
            if "edv" in data:
                raise ValueError(f"edv {data['edv']!r} contradicts mode {data['mode']}")
            data["edv"] = "legacy"
        return data

    @field_validator("station")
    @classmethod
    def _station(cls, value: str | int) -> str | int:
        station_id(value)
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_mode(value)
            except RateError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _rate(self) -> Stream:
        if self.format != "vdif":
            return self._other_format()
        refused = refused_field(self.format, self.model_fields_set, {})
        if refused is not None:
            raise refused
        if self.mode is None and self.fps is None:
            if self.source == "external":
                raise ValueError("an external stream needs its rate, mode (VDIF_<payload>-<Mbps>-<nchan>-<bits>) or "
                                 "fps: the recorder is configured with it and the checker holds the stream to it")
            raise ValueError("give the rate: fps or mode")
        if self.mode is not None:
            try:
                mode = parse_mode(self.mode)
            except RateError as exc:
                raise ValueError(str(exc)) from None
            if self.fps is not None and self.fps != mode.frames_per_second:
                raise ValueError(f"fps {self.fps} contradicts mode {self.mode} ({mode.frames_per_second})")
        if self.payload == "tone" and self.tone is None:
            raise ValueError("payload tone needs tone: {frequency_hz: ...}")
        return self

    def _other_format(self) -> Stream:
        """A Mark5B or LWA RBeam stream: its own fields only, and a stream the format layer can make."""
        refused = refused_field(self.format, self.model_fields_set,
                                {"payload": self.payload, "source": self.source, "udps": self.udps})
        if refused is not None:
            raise refused
        try:
            self._format_spec()
        except ValueError as exc:
            raise FieldRefused(spec_field(self.format, str(exc)), str(exc)) from None
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields of the stream's format only: a VDIF stream dumps as it always has; a Mark5B or LWA RBeam one
        without the VDIF fields it has no use for, and with its own as the format layer took them."""
        dumped: dict[str, Any] = handler(self)
        if self.format != "vdif":
            dumped = {k: v for k, v in dumped.items() if k not in VDIF_FIELDS or k in TAKES[self.format]}
            dumped.update(own_values(self._format_spec()))
        for name in (n for own in OWN_FIELDS.values() for n in own):
            if dumped.get(name) is None:
                dumped.pop(name, None)
        return dumped

    def _format_spec(self) -> FormatSpec:
        return format_spec(self.format, fps=self.fps, station=self.station, udps=self.udps,
                           frame_parts=self.frame_parts, channels=self.channels, servers=self.servers,
                           chan0=self.chan0)

    @property
    def format_spec(self) -> FormatSpec | None:
        """The format layer's stream (Mark5B, LWA RBeam); None for VDIF, whose sizes are computed here."""
        return None if self.format == "vdif" else self._format_spec()

    @property
    def thread_ids(self) -> tuple[int, ...]:
        """The threads as the checker counts them (Mark5B: 0; LWA RBeam: the servers 1..N)."""
        spec = self.format_spec
        return tuple(range(self.threads)) if spec is None else spec.threads

    @property
    def thread_count(self) -> int:
        return len(self.thread_ids)

    @property
    def frame_rate(self) -> Fraction:
        """Frames per second per thread, exact (LWA RBeam's 765625/32 is not whole)."""
        spec = self.format_spec
        return Fraction(self.frames_per_second if spec is None else spec.fps)

    @property
    def frames_per_second(self) -> int:
        """Frames per second per thread, where it is whole (refused for LWA RBeam: see frame_rate)."""
        spec = self.format_spec
        if spec is not None:
            rate = Fraction(spec.fps)
            if rate.denominator != 1:
                raise ValueError(f"a {self.format} stream's {float(rate)} frames/s per thread is not whole")
            return int(rate)
        if self.mode is not None:
            return parse_mode(self.mode).frames_per_second
        if self.fps is None:
            raise ValueError("the stream has no rate")  # refused by _rate: never reached for a loaded scenario
        return self.fps

    @property
    def effective_payload_bytes(self) -> int:
        return parse_mode(self.mode).payload_bytes if self.mode else self.payload_bytes

    @property
    def frame_bytes(self) -> int:
        spec = self.format_spec
        if spec is not None:
            return spec.frame_bytes
        return self.effective_payload_bytes + (16 if self.edv == "legacy" else 32)

    @property
    def datagram_bytes(self) -> int:
        """One datagram (a Mark5B frame goes in ``frame_parts`` of them), sequence prefix included."""
        spec = self.format_spec
        if spec is not None:
            return spec.datagram_bytes
        return self.frame_bytes + (SEQUENCE_BYTES if self.udps else 0)

    @property
    def datagrams_per_frame(self) -> int:
        spec = self.format_spec
        return 1 if spec is None else spec.datagrams_per_frame

    @property
    def nominal_gbps(self) -> float:
        """Frames on the wire (sequence prefix included, UDP/IP excluded), all threads."""
        spec = self.format_spec
        if spec is not None:
            return spec.bits_per_second / 1e9
        return self.frames_per_second * self.threads * self.datagram_bytes * 8 / 1e9

    @property
    def frame_gbps(self) -> float:
        """The frames alone (no sequence prefix), all threads: what a recording of the stream holds per second."""
        if self.format == "vdif":
            return self.frames_per_second * self.threads * self.frame_bytes * 8 / 1e9
        return float(self.frame_rate) * self.thread_count * self.frame_bytes * 8 / 1e9
