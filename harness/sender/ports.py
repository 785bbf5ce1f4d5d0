"""A transport of one UDP socket per lane: lane k's datagrams to port ``base + k`` (a LOFAR station's RSP lanes,
each to its own port), with the send failures of each lane."""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from harness.sender.transport import SendRefused, UdpTransport


class LaneTransport:
    """``lanes`` connected UDP sockets to ``host``, ports ``base_port .. base_port + lanes - 1``.

    ``send`` is told each row's lane (its thread's place in the stream); the rows of a lane keep their order.
    """

    by_lane = True

    def __init__(self, host: str, base_port: int, lanes: int, datagram_bytes: int, *, bind: str | None = None,
                 ttl: int = 1, allow_fragmentation: bool = False, gso: bool = True) -> None:
        if base_port < 1 or base_port + lanes - 1 > 65535:
            raise SendRefused(f"ports {base_port}..{base_port + lanes - 1} are outside 1..65535")
        self.ports = tuple(range(base_port, base_port + lanes))
        self.lanes: list[UdpTransport] = []
        try:
            for port in self.ports:
                self.lanes.append(UdpTransport(host, port, datagram_bytes, bind=bind, ttl=ttl,
                                               allow_fragmentation=allow_fragmentation, gso=gso))
        except BaseException:
            self.close()
            raise
        self.failed = [0] * lanes
        """Datagrams each lane's socket refused after retries."""
        self.destination = f"{self.lanes[0].address[0]!s}:{base_port}..{self.ports[-1]}"

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for lane in self.lanes:
            total.update(lane.errors)
        return total

    @property
    def gso(self) -> bool:
        return all(lane.gso for lane in self.lanes)

    @property
    def segments(self) -> int:
        return min(lane.segments for lane in self.lanes)

    @property
    def mtu(self) -> int:
        return min(lane.mtu for lane in self.lanes)

    def send(self, datagrams: npt.NDArray[np.uint8], lanes: npt.NDArray[np.int64] | None = None) -> npt.NDArray[
            np.bool_]:
        """Send each row to its lane's port; returns which rows left the host."""
        if lanes is None:
            raise ValueError("a LaneTransport needs each row's lane")
        sent = np.zeros(datagrams.shape[0], dtype=bool)
        for k, lane in enumerate(self.lanes):
            rows = np.flatnonzero(lanes == k)
            if not len(rows):
                continue
            ok = lane.send(np.ascontiguousarray(datagrams[rows]))
            sent[rows] = ok
            self.failed[k] += int((~ok).sum())
        return sent

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()
