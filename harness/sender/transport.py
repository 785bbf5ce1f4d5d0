"""The sender's UDP socket: destination checks, DF bit, multicast, UDP GSO, errors by errno."""

from __future__ import annotations

import errno
import ipaddress
import socket
import time
from collections import Counter

import numpy as np
import numpy.typing as npt

UDP_SEGMENT = 103  # linux/udp.h: GSO segment size, per socket or per sendmsg
IP_MTU = 14
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IPV6_MTU = 24
UDP_MAX_SEGMENTS = 64
MAX_UDP_PAYLOAD = 65507
ENOBUFS_RETRIES = 200


class SendRefused(ValueError):
    """A send that must not start: the reason is one line, shown to the user as is."""


class UdpTransport:
    """A connected UDP socket that sends batches of equal-size datagrams.

    With UDP GSO the kernel splits one ``send()`` of up to 64 datagrams into datagrams of
    ``datagram_bytes``; without it (old kernel, or ``gso=False``) each datagram is one call.
    """

    by_lane = False
    """One destination: ``send`` takes no lanes."""

    def __init__(
        self, host: str, port: int, datagram_bytes: int, *, bind: str | None = None, ttl: int = 1,
        allow_fragmentation: bool = False, gso: bool = True, sndbuf: int = 8 << 20,
    ) -> None:
        if not 0 < port < 65536:
            raise SendRefused(f"port {port} is outside 1..65535")
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise SendRefused(f"destination {host!r} does not resolve: {exc.strerror}") from None
        self.address = address
        self.destination = f"{address[0]!s}:{address[1]!s}"
        self.datagram_bytes = datagram_bytes
        self.errors: Counter[str] = Counter()
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._configure(family, bind, ttl, allow_fragmentation, sndbuf)
            self.mtu = self._route_mtu(family)
            overhead = 48 if family == socket.AF_INET6 else 28
            if datagram_bytes + overhead > self.mtu and not allow_fragmentation:
                raise SendRefused(
                    f"a {datagram_bytes}-byte datagram needs an MTU of {datagram_bytes + overhead}, "
                    f"the route to {host} has {self.mtu} (use --allow-fragmentation to send anyway)"
                )
            if datagram_bytes > MAX_UDP_PAYLOAD:
                raise SendRefused(f"a {datagram_bytes}-byte datagram exceeds the UDP limit of {MAX_UDP_PAYLOAD}")
            self.segments = self._enable_gso(gso and datagram_bytes + overhead <= self.mtu)
        except BaseException:
            self.sock.close()
            raise

    def _configure(self, family: int, bind: str | None, ttl: int, allow_fragmentation: bool, sndbuf: int) -> None:
        sock = self.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        destination = ipaddress.ip_address(self.address[0])
        if destination.is_multicast:
            level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
            option = socket.IPV6_MULTICAST_HOPS if family == socket.AF_INET6 else socket.IP_MULTICAST_TTL
            sock.setsockopt(level, option, ttl)
            if bind and family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bind))
        if bind:
            try:
                sock.bind((bind, 0))
            except OSError as exc:
                raise SendRefused(f"cannot bind the sender to {bind}: {exc.strerror}") from None
        if family == socket.AF_INET:
            sock.setsockopt(
                socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT if allow_fragmentation else IP_PMTUDISC_DO
            )
        try:
            sock.connect(self.address)
        except OSError as exc:
            raise SendRefused(f"no route to {self.address[0]}: {exc.strerror}") from None

    def _route_mtu(self, family: int) -> int:
        if family == socket.AF_INET6:
            return self.sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
        return self.sock.getsockopt(socket.IPPROTO_IP, IP_MTU)

    def _enable_gso(self, wanted: bool) -> int:
        """Datagrams per send() call: >1 with GSO, 1 without."""
        per_call = min(UDP_MAX_SEGMENTS, MAX_UDP_PAYLOAD // self.datagram_bytes)
        if not wanted or per_call < 2:
            return 1
        try:
            self.sock.setsockopt(socket.SOL_UDP, UDP_SEGMENT, self.datagram_bytes)
        except OSError:
            return 1
        return per_call

    @property
    def gso(self) -> bool:
        return self.segments > 1

    def send(self, datagrams: npt.NDArray[np.uint8], lanes: npt.NDArray[np.int64] | None = None) -> npt.NDArray[
            np.bool_]:
        """Send each row of ``datagrams``; returns which rows left the host. (One destination: each row's lane,
        ``lanes``, which ``sender.ports.LaneTransport`` sends by, is not used.)"""
        sent = np.zeros(datagrams.shape[0], dtype=bool)
        view = memoryview(datagrams.reshape(-1).data)
        rows = datagrams.shape[0]
        size = self.datagram_bytes
        for first in range(0, rows, self.segments):
            last = min(rows, first + self.segments)
            sent[first:last] = self._send_one(view[first * size : last * size])
        return sent

    def _send_one(self, chunk: memoryview) -> bool:
        refused_once = False
        for _ in range(ENOBUFS_RETRIES):
            try:
                self.sock.send(chunk)
                return True
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                self.errors[name] += 1
                if exc.errno == errno.ECONNREFUSED and not refused_once:
                    refused_once = True  # an ICMP error from an earlier datagram: retry this one
                    continue
                if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                    time.sleep(50e-6)
                    continue
                if exc.errno == errno.EIO and self.segments > 1:
                    self.segments = 1  # the device cannot segment: fall back to one datagram per call
                    self.sock.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 0)
                    return all(self._send_one(chunk[i : i + self.datagram_bytes])
                               for i in range(0, len(chunk), self.datagram_bytes))
                return False
        return False

    def close(self) -> None:
        self.sock.close()
