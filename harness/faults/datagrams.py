"""Faults of the datagrams themselves: one of the wrong size in the stream, or a port scan of the data port,
sent from the sender node by ``harness.faults.stray``."""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.faults.injector import Injector
from harness.faults.schema import LongDatagram, PortScan, ShortDatagram
from harness.faults.site import FaultError


class StrayDatagrams(Injector):
    mechanism = "harness.faults.stray on the sender node"

    def sizes_and_count(self) -> tuple[list[int], int]:
        fault, datagram = self.fault, self.context.datagram_bytes
        if isinstance(fault, ShortDatagram):
            return [fault.size or datagram // 2], 1
        if isinstance(fault, LongDatagram):
            return [fault.size or datagram + 8], 1
        if isinstance(fault, PortScan):
            return [], fault.count
        raise TypeError(type(fault).__name__)

    def apply(self) -> None:
        sizes, count = self.sizes_and_count()
        if self.context.datagram_bytes in sizes:
            raise FaultError(f"a {self.fault.kind} of {sizes[0]} bytes is the stream's own datagram size")
        argv = [sys.executable, "-m", "harness.faults.stray", "--dest", self.context.recorder_ip, "--port",
                str(self.context.port), "--count", str(count), "--avoid", str(self.context.datagram_bytes)]
        for size in sizes:
            argv += ["--size", str(size)]
        out = self.site.on_sender(argv)
        try:
            self.sent: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise FaultError(f"harness.faults.stray said nothing it sent: {out.strip()[-200:]!r}") from None

    def remove(self) -> dict[str, Any]:
        return dict(getattr(self, "sent", {}))
