"""The scenario file's schema: what to run, on which lab, for how long, judged by which thresholds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from harness.faults.schema import Fault, FaultEntry
from harness.formats.vdif.header import station_id
from harness.formats.vdif.rates import RateError, parse_mode
from harness.formats.vdif.stream import SEQUENCE_BYTES
from harness.scenario.units import parse_duration, parse_size

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Bytes = Annotated[int, BeforeValidator(parse_size)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(Strict):
    id: str
    text: str = ""
    thresholds: list[str] = Field(default_factory=list, description="thresholds that give its evidence; all if empty")


class Lab(Strict):
    inventory: str = Field("local", description="'local' (this machine as a lab), 'none' (loopback), or a path")
    sender: str = "sender"
    recorder: str = "recorder"
    recorders: list[str] = Field(default_factory=list,
                                 description="inventory labs: the recorder nodes recording at once (default: all)")

    @field_validator("recorders")
    @classmethod
    def _each_once(cls, names: list[str]) -> list[str]:
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names {', '.join(twice)} more than once")
        return names
    disks: int = Field(2, ge=1, le=64)
    disk_size: Bytes = 12 << 30
    link_gbps: float = Field(10.0, gt=0, description="data link speed; a stream above it is refused")


class ToneSpec(Strict):
    frequency_hz: float = Field(gt=0)
    channel: int = Field(0, ge=0)
    amplitude: float = Field(0.3, gt=0)


class Stream(Strict):
    source: Literal["harness", "external"] = "harness"
    format: Literal["vdif"] = "vdif"
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

    @model_validator(mode="before")
    @classmethod
    def _from_mode(cls, data: Any) -> Any:
        """A mode fixes payload size, bits, channels, complex and legacy headers: filled in, contradictions refused."""
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

    @property
    def frames_per_second(self) -> int:
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
        return self.effective_payload_bytes + (16 if self.edv == "legacy" else 32)

    @property
    def datagram_bytes(self) -> int:
        return self.frame_bytes + (SEQUENCE_BYTES if self.udps else 0)

    @property
    def nominal_gbps(self) -> float:
        """Frames on the wire (sequence prefix included, UDP/IP excluded), all threads."""
        return self.frames_per_second * self.threads * self.datagram_bytes * 8 / 1e9


class RecorderSpec(Strict):
    backend: Literal["reference", "jive5ab", "katcp"] = "reference"
    control: str | None = Field(None, description="host:port of a running recorder (katcp: its proxy) to attach to")
    binary: str | None = None
    image: str | None = None
    protocol: Literal["pudp", "udps", "udpsnor"] | None = Field(None, description="default: udps if the stream has it")
    socket_buffer: Bytes = 64 << 20
    workbuf: Bytes = 128 << 20
    nbuf: int = Field(4, ge=1)
    block_size: Bytes | None = None
    mtu: int = Field(9000, ge=64, le=9000)
    writers: int = Field(1, ge=1, le=64)
    mount_points: list[str] | None = Field(None, description="default: the lab's disks")
    recording: Literal["vbs", "net2file"] = "vbs"
    product_root: str | None = Field(None, description="katcp: where capture blocks go (default the first disk)")
    behind: Literal["reference", "jive5ab"] = Field(
        "reference", description="katcp without control: the recorder the harness starts behind its own proxy")
    vsis: str | None = Field(None, description="katcp with control: host:port of the VSI-S port behind the proxy "
                                               "(the recorder's own state is then evidence too)")
    capture_init_timeout: Seconds = Field(30.0, gt=0, description="katsdpcontroller's 30 s")
    capture_done_timeout: Seconds = Field(240.0, gt=0, description="katsdpcontroller's 240 s")

    @model_validator(mode="after")
    def _katcp(self) -> RecorderSpec:
        if self.backend == "katcp" and self.recording != "vbs":
            raise ValueError("the KATCP contract records capture blocks (vbs), not net2file")
        return self


class Schedule(Strict):
    scans: int | None = Field(None, ge=1)
    duration: Seconds | None = Field(None, gt=0)
    scan_length: Seconds = Field(gt=0)
    gap: Seconds = 5.0
    scan_name: str = "{scenario}_{n:03d}"
    rolling: bool = Field(False, description="delete a scan's files once it validated clean")
    capture_tolerance: Seconds = Field(0.5, ge=0, description="external streams: frames may be absent this long "
                                       "after record=on and before record=off (recorder start/stop latency, clock "
                                       "offset) before they are missing")

    @model_validator(mode="after")
    def _count(self) -> Schedule:
        if (self.scans is None) == (self.duration is None):
            raise ValueError("give exactly one of scans or duration")
        if self.scan_count > 1 and "{n" not in self.scan_name:
            raise ValueError(f"scan_name {self.scan_name!r} needs {{n}}: every scan gets its own name")
        return self

    @property
    def scan_count(self) -> int:
        """Scans to run; a total duration becomes as many scan+gap periods as fit (at least one)."""
        if self.scans is not None:
            return self.scans
        return max(1, round((self.duration or 0.0) / (self.scan_length + self.gap)))


class Thresholds(Strict):
    lost_frames: int | None = Field(0, ge=0)
    lost_fraction: float | None = Field(None, ge=0, le=1)
    invalid_frames: int | None = Field(0, ge=0)
    duplicate_frames: int | None = Field(0, ge=0)
    out_of_order_frames: int | None = Field(0, ge=0)
    payload_errors: int | None = Field(0, ge=0)
    corrupt_headers: int | None = Field(0, ge=0)
    min_rate_fraction: float | None = Field(0.99, ge=0, le=2)
    min_disk_free: Bytes | None = Field(None, ge=0)
    rcvbuf_errors: int | None = Field(0, ge=0)


class Scenario(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$")
    description: str = ""
    requirements: list[Requirement] = Field(default_factory=list)
    acceptance: bool = False
    lab: Lab = Field(default_factory=Lab)
    stream: Stream
    recorder: RecorderSpec = Field(default_factory=RecorderSpec)
    schedule: Schedule
    thresholds: Thresholds = Field(default_factory=Thresholds)
    metrics_period: Seconds = Field(1.0, gt=0)
    faults: list[Fault] = Field(default_factory=list, description="faults injected during the run (docs/faults.md)")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


IP_UDP_OVERHEAD = 28


def feasibility_errors(scenario: Scenario) -> list[tuple[tuple[str, ...], str]]:
    """Checks across sections, each as (key path, what was expected)."""
    stream = scenario.stream  # an external stream is declared as a harness one is, and held to the same limits
    errors: list[tuple[tuple[str, ...], str]] = []
    if stream.datagram_bytes + IP_UDP_OVERHEAD > scenario.recorder.mtu:
        errors.append((("stream", "payload_bytes"),
                       f"a frame that fits recorder.mtu {scenario.recorder.mtu}: a {stream.datagram_bytes}-byte "
                       f"datagram needs an MTU of {stream.datagram_bytes + IP_UDP_OVERHEAD}"))
    if stream.nominal_gbps > scenario.lab.link_gbps:
        key = "mode" if stream.mode else "fps"
        errors.append((("stream", key),
                       f"a rate within the link's {scenario.lab.link_gbps:g} Gbit/s (lab.link_gbps), "
                       f"not {stream.nominal_gbps:.3f} Gbit/s"))
    if stream.payload == "tone" and stream.tone and stream.tone.channel >= stream.channels:
        errors.append((("stream", "tone", "channel"), f"a channel below {stream.channels}"))
    for n, fault in enumerate(scenario.faults):
        errors.extend((("faults", str(n), *key), text) for key, text in fault_errors(scenario, fault))
    return errors


SENDER_SIDE_KINDS = ("duplicate", "reorder")


def fault_errors(scenario: Scenario, fault: FaultEntry) -> list[tuple[tuple[str, ...], str]]:
    """A fault against the schedule, the stream and the lab."""
    errors: list[tuple[tuple[str, ...], str]] = []
    schedule = scenario.schedule
    if fault.scan > schedule.scan_count:
        errors.append((("scan",), f"a scan of the schedule's {schedule.scan_count}"))
    if fault.at >= schedule.scan_length:
        errors.append((("at",), f"an offset within the scan's {schedule.scan_length:g} s"))
    mount = getattr(fault, "mount", None)
    disks = len(scenario.recorder.mount_points or []) or scenario.lab.disks
    if mount is not None and mount >= disks:
        errors.append((("mount",), f"a mount point index below {disks} (the recorder's mount points)"))
    if fault.kind in SENDER_SIDE_KINDS and scenario.stream.source != "harness":
        errors.append((("kind",), f"a kind other than {fault.kind} for an external stream: vdif-send puts it on "
                                  "the wire"))
    twice = [f for f in scenario.faults if f.kind == fault.kind and f.scan == fault.scan]
    if fault.kind in SENDER_SIDE_KINDS and len(twice) > 1 and twice[0] is not fault:
        errors.append((("kind",), f"one {fault.kind} per scan (scan {fault.scan} has {len(twice)}): the sender "
                                  "counts them together"))
    return errors
