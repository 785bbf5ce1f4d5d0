"""The ``faults:`` timeline of a scenario file: one entry per fault, its kind, scan, offset, duration and the
kind's own parameters."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.scenario.units import parse_duration, parse_size

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Bytes = Annotated[int, BeforeValidator(parse_size)]
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kMG])bit/s\s*$")
_RATE_UNITS = {"k": 1e-6, "M": 1e-3, "G": 1.0}


def parse_fraction(value: object) -> float:
    """A fraction from 0.004 or "0.4%"."""
    if isinstance(value, bool):
        raise ValueError("a fraction, e.g. 0.4% or 0.004")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"a percentage such as 0.4%, not {value!r}") from None
    if isinstance(value, int | float) and 0 < value < 1:
        return float(value)
    raise ValueError(f"a fraction above 0 and below 1 (e.g. 0.4% or 0.004), not {value!r}")


def parse_gbps(value: object) -> float:
    """Gbit/s from 2.5, "2.5 Gbit/s", "800 Mbit/s"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        match = _RATE.match(value)
        if match and float(match[1]) > 0:
            return float(match[1]) * _RATE_UNITS[match[2]]
    raise ValueError(f"a rate such as 2 Gbit/s or 800 Mbit/s, not {value!r}")


Fraction = Annotated[float, BeforeValidator(parse_fraction)]
Gbps = Annotated[float, BeforeValidator(parse_gbps)]


class FaultEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    scan: int = Field(ge=1, description="the scan it happens in, 1-based")
    at: Seconds = Field(0.0, ge=0, description="offset from that scan's start (the sender's first frame)")
    duration: Seconds = Field(1.0, gt=0, description="how long it lasts (instant kinds ignore it)")
    required: bool = Field(True, description="false: where no mechanism here can inject it, the run goes on without "
                                             "it and says so (else the scenario is refused)")

    instant: ClassVar[bool] = False
    """Kinds that happen once (a kill, one datagram): their duration is not theirs to give."""

    @property
    def end(self) -> float:
        return self.at if self.instant else self.at + self.duration


class Loss(FaultEntry):
    """Datagrams dropped on the data link, at random (``fraction``) or every ``every``-th."""

    kind: Literal["loss"]
    fraction: Fraction | None = None
    every: int | None = Field(None, ge=2)

    @model_validator(mode="after")
    def _one(self) -> Loss:
        if (self.fraction is None) == (self.every is None):
            raise ValueError("give exactly one of fraction (e.g. 0.4%) or every (a deterministic drop)")
        return self


class Duplicate(FaultEntry):
    """Every ``every``-th datagram sent twice (by the sender: exact)."""

    kind: Literal["duplicate"]
    every: int = Field(100, ge=1)


class Reorder(FaultEntry):
    """Every ``every``-th datagram sent after the one that follows it (by the sender: exact)."""

    kind: Literal["reorder"]
    every: int = Field(100, ge=2)


class Delay(FaultEntry):
    """Every datagram on the data link held back by ``delay`` (netem)."""

    kind: Literal["delay"]
    delay: Seconds = Field(0.01, gt=0)
    jitter: Seconds = Field(0.0, ge=0)


class RateLimit(FaultEntry):
    """The data link limited to ``rate`` (tbf on the sender node's data interface)."""

    kind: Literal["rate_limit"]
    rate: Gbps
    burst: Bytes | None = Field(None, gt=0, description="default: one and a half datagrams, so that tbf splits every "
                                                          "GSO super-packet and counts what it drops in datagrams")
    limit: Bytes = Field(4 << 20, gt=0, description="bytes queued before the limiter drops")


class RecorderStop(FaultEntry):
    """The recorder's process stopped (SIGSTOP) for the duration: a hung recorder."""

    kind: Literal["recorder_stop"]


class RecorderKill(FaultEntry):
    """The recorder's process killed (SIGKILL)."""

    kind: Literal["recorder_kill"]
    instant: ClassVar[bool] = True


class SenderKill(FaultEntry):
    """The sender killed (SIGKILL) mid-scan."""

    kind: Literal["sender_kill"]
    instant: ClassVar[bool] = True


class DiskFull(FaultEntry):
    """One mount point filled up to ``leave`` bytes free for the duration."""

    kind: Literal["disk_full"]
    mount: int = Field(0, ge=0, description="index into the recorder's mount points")
    leave: Bytes = Field(0, ge=0)


class DiskFail(FaultEntry):
    """Writes to one mount point fail at the device for the duration."""

    kind: Literal["disk_fail"]
    mount: int = Field(0, ge=0)


class DiskGone(FaultEntry):
    """One mount point unmounted under the recorder; mounted again when the recorder has let go of it."""

    kind: Literal["disk_gone"]
    mount: int = Field(0, ge=0)


class ShortDatagram(FaultEntry):
    """One datagram shorter than the stream's, in the stream (to the data port)."""

    kind: Literal["short_datagram"]
    size: int | None = Field(None, ge=1, description="bytes (default: half the stream's datagram)")
    instant: ClassVar[bool] = True


class LongDatagram(FaultEntry):
    """One datagram longer than the stream's, in the stream."""

    kind: Literal["long_datagram"]
    size: int | None = Field(None, ge=1, le=65507, description="bytes (default: the stream's datagram + 8)")
    instant: ClassVar[bool] = True


class PortScan(FaultEntry):
    """Stray datagrams of assorted sizes to the data port, as a port scanner sends (jive5ab issue #21)."""

    kind: Literal["port_scan"]
    count: int = Field(16, ge=1, le=100000)
    instant: ClassVar[bool] = True


Fault = Annotated[Loss | Duplicate | Reorder | Delay | RateLimit | RecorderStop | RecorderKill | SenderKill |
                  DiskFull | DiskFail | DiskGone | ShortDatagram | LongDatagram | PortScan,
                  Field(discriminator="kind")]
