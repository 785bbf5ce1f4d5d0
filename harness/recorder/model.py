"""The recorder interface every backend implements, and the values it takes and returns.

`RecorderConfig` is what a scenario asks for (mode, protocol, buffers, port, disks);
`RecorderStatus` is the cheap once-a-second poll; `ScanResult` is what a scan left behind,
with the raw final replies kept for the report. Backends (jive5ab, reference) differ only in
how the recorder is started; see backends.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from harness.recorder.errors import ScanNameRefused
from harness.recorder.notes import RecorderNote

PROTOCOLS = ("udps", "pudp", "udpsnor")
"""The UDP flavours both backends record (jive5ab's names): udps/udpsnor carry an 8-byte sequence number."""

SEQUENCE_PREFIX = {"udps": 8, "udpsnor": 8, "pudp": 0}

_SCAN_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
MAX_SCAN_NAME = 200


def scan_name_problem(name: str) -> str | None:
    """Why ``name`` must not be used as a scan name, or None.

    jive5ab 3.1.0 does not sanitise scan names: ``record=on:../escape`` writes outside the
    mount points, onto the root filesystem. Both backends refuse such names.
    """
    if not name:
        return "an empty scan name"
    if len(name) > MAX_SCAN_NAME:
        return f"a scan name of {len(name)} characters (at most {MAX_SCAN_NAME})"
    if "/" in name:
        return f"scan name {name!r} contains '/'"
    if ".." in name:
        return f"scan name {name!r} contains '..'"
    if not _SCAN_NAME.fullmatch(name):
        bad = sorted({c for c in name if not _SCAN_NAME.fullmatch(c)})
        return f"scan name {name!r} contains {''.join(bad)!r} (allowed: A-Z a-z 0-9 _ . + -)"
    return None


def check_scan_name(name: str, backend: str = "") -> None:
    """Raise ScanNameRefused when ``name`` is not a safe scan name."""
    problem = scan_name_problem(name)
    if problem is None and "_ds" in name:
        problem = f"scan name {name!r} contains '_ds', which jive5ab reads as a datastream suffix"
    if problem is not None:
        raise ScanNameRefused(f"refused before sending: {problem}", backend=backend)


def size_argument(value: int | str | None) -> str:
    """A jive5ab size argument: bytes as an integer, or text with its own k/M suffix; None = default."""
    if value is None:
        return ""
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"size {value} must be positive")
        return str(value)
    if not re.fullmatch(r"\d+[kM]?", value):
        raise ValueError(f"size {value!r} is not <n>[k|M] (jive5ab has no G suffix)")
    return value


def parse_size(text: str) -> int:
    """``<n>[k|M]`` -> bytes (k = 1024, M = 1048576), as jive5ab reads it."""
    match = re.fullmatch(r"(\d+)([kM]?)", text.strip())
    if not match:
        raise ValueError(f"size {text!r} is not <n>[k|M]")
    return int(match[1]) * {"": 1, "k": 1024, "M": 1 << 20}[match[2]]


@dataclass(frozen=True)
class RecorderConfig:
    """How to record one stream; sent as mode, net_protocol, mtu, net_port, set_disks, record=nthread."""

    mode: str | None = None
    """jive5ab mode ``VDIF_<payload>-<Mbps>-<nchan>-<bits>``; None leaves the recorder's mode as it is."""
    protocol: str = "udps"
    socket_buffer: int | str | None = "32M"
    workbuf: int | str | None = None
    """Work buffer (the chunk size hint); None keeps the recorder's default."""
    nbuf: int | None = None
    mtu: int = 9000
    data_port: int = 52030
    data_address: str | None = None
    """Local address or multicast group to receive on (``net_port = ip@port``); None = any."""
    disks: list[str] | str = field(default_factory=list)
    """Mount points, or one glob / group name (``/srv/lab/disk*``, ``flexbuff``)."""
    writers: int = 1
    frame_bytes: int = 5032
    """VDIF frame size including its header, without any sequence prefix."""
    net2file: bool = False

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if not 64 <= self.mtu <= 9000:
            raise ValueError(f"mtu {self.mtu} is outside jive5ab's 64..9000")
        if not 0 < self.data_port < 65536:
            raise ValueError(f"data port {self.data_port} is outside 1..65535")
        if self.data_address is not None:
            ipaddress.ip_address(self.data_address)
        if self.writers < 1:
            raise ValueError(f"{self.writers} writer threads: need at least one")
        if self.frame_bytes <= 0 or self.frame_bytes % 8:
            raise ValueError(f"frame of {self.frame_bytes} bytes is not a positive multiple of 8")
        if self.nbuf is not None and self.nbuf < 1:
            raise ValueError(f"nbuf {self.nbuf} must be at least 1")
        size_argument(self.socket_buffer)
        size_argument(self.workbuf)

    @property
    def datagram_bytes(self) -> int:
        return self.frame_bytes + SEQUENCE_PREFIX[self.protocol]

    @property
    def net_port(self) -> str:
        return f"{self.data_address}@{self.data_port}" if self.data_address else str(self.data_port)

    @property
    def disk_list(self) -> list[str]:
        return [self.disks] if isinstance(self.disks, str) else list(self.disks)

    def commands(self) -> list[tuple[str, tuple[object, ...]]]:
        """The configuration commands in the order jive5ab wants them (while idle)."""
        out: list[tuple[str, tuple[object, ...]]] = []
        if self.mode is not None:
            out.append(("mode", (self.mode,)))
        out.append(("net_protocol", (self.protocol, size_argument(self.socket_buffer), size_argument(self.workbuf),
                                     "" if self.nbuf is None else self.nbuf)))
        out.append(("mtu", (self.mtu,)))
        out.append(("net_port", (self.net_port,)))
        if self.disk_list:  # for net2file too: the reference recorder writes a flat file only inside them
            out.append(("set_disks", tuple(self.disk_list)))
        if not self.net2file:
            out.append(("record", ("nthread", "", self.writers)))
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecorderStatus:
    """One cheap poll (``record?`` and ``evlbi?`` on one line)."""

    recording: bool
    scan: str | None
    bytes: int
    packets: int
    lost: int
    out_of_order: int
    extent: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanResult:
    """What one recording (vbs scan or net2file file) left behind."""

    scan: str
    stopped_early: bool
    """The recorder had already stopped by itself before the harness asked: a finding, not a crash."""
    packets: int
    lost: int
    out_of_order: int
    bytes: int
    """Bytes in the files found (frames on disk); the recorder's own count where no file is visible."""
    files: list[str]
    replies: dict[str, str]
    """The raw final replies (record?, evlbi?, tstat=, dir_info?, scan_check?, ...), for the report."""
    extent: str | None = None
    notes: list[str] = field(default_factory=list)
    """Findings in words (stopped early, replies that failed), for the report."""
    findings: list[str] = field(default_factory=list)
    """Where the control path disagreed with the truth (a KATCP proxy's replies and sensors): each fails the scan."""
    capture_block: str | None = None
    """The capture block id the scan was recorded as (KATCP), else None."""
    product: tuple[str, str] | None = None
    """(scan name, mount-point glob) where the checker finds the recording, when not the scan's own name over the
    lab's disks (a KATCP product: ``<cbid>_vdif`` under ``<root>/<cbid>``)."""
    claims: dict[str, Any] | None = None
    """What the control path's counters said the scan received (judged once the checker has counted)."""
    said: list[RecorderNote] = field(default_factory=list)
    """Everything the recorder said about the scan (error? entries, a stop by itself, its log, its files against
    its counters), each with its source and whether it means data was lost."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Recorder(Protocol):
    """One recorder under test, however it was started. Use as a context manager."""

    backend: str
    log_dir: Path

    @property
    def pid(self) -> int | None:
        """The recorder process (to sample CPU and RSS); None when attached or in a container."""
        ...

    @property
    def control_address(self) -> str:
        """host:port of its control port."""
        ...

    capture_block: str | None
    """The capture block id of the scan in progress (KATCP), else None."""

    def version(self) -> str: ...

    def sensor_readings(self) -> dict[str, Any] | None:
        """The control path's sensors as last read (KATCP), for metrics.jsonl; None where there are none."""
        ...

    def configure(self, cfg: RecorderConfig) -> None: ...

    def record_on(self, scan: str) -> str: ...

    def wait_for_packets(self, timeout: float = 5.0) -> int: ...

    def status(self, timeout: float | None = None) -> RecorderStatus:
        """The cheap poll; ``timeout`` bounds the wait for the reply (a hung recorder must not hold metrics)."""
        ...

    def record_off(self) -> ScanResult: ...

    def net2file_open(self, path: str | Path) -> None: ...

    def net2file_stop(self) -> ScanResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
