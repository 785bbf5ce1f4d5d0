"""The scenario file's schema: what to run, on which lab, for how long, judged by which thresholds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from harness.faults.schema import Fault, FaultEntry
from harness.scenario.stream import STRICT, Stream
from harness.scenario.stream_format import with_article
from harness.scenario.units import parse_duration, parse_size

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Bytes = Annotated[int, BeforeValidator(parse_size)]


class Strict(BaseModel):
    model_config = STRICT


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
        errors.append((("stream", SIZE_KEY.get(stream.format, "payload_bytes")),
                       f"a frame that fits recorder.mtu {scenario.recorder.mtu}: a {stream.datagram_bytes}-byte "
                       f"datagram needs an MTU of {stream.datagram_bytes + IP_UDP_OVERHEAD}"))
    if stream.nominal_gbps > scenario.lab.link_gbps:
        key = "mode" if stream.mode else RATE_KEY.get(stream.format, "fps")
        errors.append((("stream", key),
                       f"a rate within the link's {scenario.lab.link_gbps:g} Gbit/s (lab.link_gbps), "
                       f"not {stream.nominal_gbps:.3f} Gbit/s"))
    if stream.payload == "tone" and stream.tone and stream.tone.channel >= stream.channels:
        errors.append((("stream", "tone", "channel"), f"a channel below {stream.channels}"))
    other = f"{with_article(stream.format)} stream"
    if stream.format != "vdif" and scenario.recorder.backend != "reference":
        errors.append((("recorder", "backend"), f"reference for {other} ({NOT_DRIVEN})"))
    if stream.format != "vdif" and scenario.faults:
        errors.append((("faults",), f"no faults for {other} (their counts are judged for VDIF streams only, one "
                                    "datagram a frame)"))
    for n, fault in enumerate(scenario.faults):
        errors.extend((("faults", str(n), *key), text) for key, text in fault_errors(scenario, fault))
    return errors


SIZE_KEY = {"mark5b": "frame_parts", "lwa_rbeam": "channels"}
RATE_KEY = {"mark5b": "fps", "lwa_rbeam": "servers"}
NOT_DRIVEN = "the harness drives jive5ab and the KATCP path with VDIF streams only, for now"


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
