"""One fault as applied on the lab: the mechanism that does it, and the counters it read from that mechanism."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.faults.schema import FaultEntry
from harness.faults.site import FaultSite


@dataclass
class ScanContext:
    """What a scan's faults need to know of it: the stream on the wire, the recorder's process, the sender."""

    scan: str
    port: int
    recorder_ip: str
    datagram_bytes: int
    udps: bool
    recorder_pid: Callable[[], int | None]
    sender_pid: Callable[[], int | None]
    """The sender's process on its node (None once it has ended, or when the harness does not send)."""
    mount_points: list[str] = field(default_factory=list)


class Injector(ABC):
    """Applies one fault and removes it again; ``remove`` must be safe to call whatever ``apply`` got to."""

    mechanism: str = ""

    def __init__(self, fault: FaultEntry, site: FaultSite, context: ScanContext, index: int) -> None:
        self.fault = fault
        self.site = site
        self.context = context
        self.index = index
        """The fault's place in the scenario's list: names what it makes on the lab (one table, one file)."""

    @abstractmethod
    def apply(self) -> None: ...

    @abstractmethod
    def remove(self) -> dict[str, Any]:
        """Undo the fault; the counters its mechanism kept of what it did."""

    @property
    def key(self) -> str:
        """Names this fault in the run lock's undo notes."""
        return f"{self.fault.kind}-{self.index}"

    def after_close(self) -> dict[str, Any]:
        """Once the recorder has closed the scan: what could only be undone then (a disk it held); counters."""
        return {}
