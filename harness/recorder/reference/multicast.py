"""How the reference recorder's data socket receives a multicast group: on the data interface, that group alone.

The pitfall (Linux, ip(7) ``IP_MULTICAST_ALL``): a UDP socket bound to ``INADDR_ANY:P`` receives the datagrams
to port P of every group that *any* socket in the network namespace joined, on any interface, because
``IP_MULTICAST_ALL`` is 1 by default; its own memberships only decide which groups the host accepts. Two
recorders on one node, groups A and B, same port P: each records both streams, interleaved. jive5ab 3.1.0 is
exposed (src/getsok.cc): it binds ``INADDR_ANY:P`` (with SO_REUSEADDR and SO_REUSEPORT, so a second jive5ab
on the same port binds fine), joins with ``imr_interface = INADDR_ANY`` and leaves ``IP_MULTICAST_ALL`` alone.
``INADDR_ANY`` in the join makes the kernel join on the interface the group *routes* via, which is why the
route to the group must go out of the data interface on a jive5ab node (the lab's preflight checks it).

The reference recorder guards twice, each guard enough on its own against the two-groups case: its socket is
bound to the group address (it matches datagrams to that destination only), and ``IP_MULTICAST_ALL`` is 0
(it takes only the groups it joined itself, and only on the interface it joined them on). It joins on the
data interface it was started with (``vdif-record --data-interface``, a name or an address of that
interface; the harness passes the lab's data address), so the route does not matter to it; without one it
joins where the group routes, as jive5ab.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable

IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
"""linux/in.h; Python's socket module lacks the constant."""


class InterfaceError(ValueError):
    """A data interface that is neither an IPv4 unicast address nor an interface of this node."""

    def __init__(self, interface: str, reason: str) -> None:
        super().__init__(f"data interface {interface!r}: {reason}")
        self.interface = interface


def interface_address(interface: str) -> str | None:
    """The address when ``interface`` is written as an IPv4 address, None when it is an interface name."""
    try:
        address = ipaddress.IPv4Address(interface)
    except ValueError:
        return None
    if address.is_multicast or address.is_unspecified:
        raise InterfaceError(interface, "an interface's own unicast address is needed here")
    return str(address)


def interface_index(interface: str, index_of: Callable[[str], int] = socket.if_nametoindex) -> int:
    """The kernel's index of a named interface; InterfaceError when this node (namespace) has none of that name."""
    try:
        return index_of(interface)
    except OSError:
        raise InterfaceError(interface, "no interface of that name here") from None


def membership_request(group: str, interface: str | None,
                       index_of: Callable[[str], int] = socket.if_nametoindex) -> bytes:
    """The ``IP_ADD_MEMBERSHIP`` argument joining ``group`` on ``interface``.

    None: ``struct ip_mreq`` with ``INADDR_ANY`` (the kernel picks the interface the group routes via, as jive5ab);
    an address: ``struct ip_mreq`` with that address (the interface holding it); a name: ``struct ip_mreqn`` with
    its index (Linux takes either struct, told apart by length).
    """
    multiaddr = socket.inet_aton(group)
    if interface is None:
        return struct.pack("=4s4s", multiaddr, socket.inet_aton("0.0.0.0"))
    address = interface_address(interface)
    if address is not None:
        return struct.pack("=4s4s", multiaddr, socket.inet_aton(address))
    return struct.pack("=4s4si", multiaddr, socket.inet_aton("0.0.0.0"), interface_index(interface, index_of))


def is_group(address: str | None) -> bool:
    return address is not None and ipaddress.ip_address(address).is_multicast


def bind_address(address: str | None) -> str:
    """Where the data socket binds: the group itself, the unicast address named, or every address."""
    return address or "0.0.0.0"


def prepare(sock: socket.socket, address: str | None) -> None:
    """Before the bind: only groups this socket joins (unicast sockets too: a wildcard one would otherwise take
    any group's datagrams to its port); several sockets of one group and port may coexist (each gets a copy)."""
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    if is_group(address):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def join(sock: socket.socket, group: str, interface: str | None) -> None:
    """Join ``group`` on ``interface`` (see `membership_request`); OSError from the kernel, InterfaceError."""
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership_request(group, interface))
