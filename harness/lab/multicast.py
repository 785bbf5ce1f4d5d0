"""Whether a multicast group routes via a node's data interface, as katsdpvlbi's entrypoint checks it.

jive5ab joins a group with ``imr_interface = INADDR_ANY``, so the kernel joins it on the interface the group
routes via (``ip route get <group>``). Routed anywhere else (the default route, a management port), jive5ab
joins there and records nothing from the data interface, without a word. The reference recorder joins on
the data interface whatever the route (harness.recorder.reference.multicast), so this check is about the
node, not about the recorder the harness happens to run.

The parser and the verdict are pure (tested with plain strings); `group_route_problem` runs ``ip`` on this
machine (or in a network namespace) through harness.lab.commands, and the preflight runs the same command on
a node through testinfra.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from harness.lab import commands

ROUTE_TIMEOUT = 10.0


@dataclass(frozen=True)
class GroupRoute:
    """What ``ip route get <group>`` said: the interface (None: no route) and, when it has none, why."""

    group: str
    device: str | None
    kind: str = ""
    """The route type ip prints first (``multicast``, ``unicast`` when it prints none, ``unreachable``...)."""
    gateway: str | None = None
    source: str | None = None
    error: str = ""


ROUTE_TYPES = ("unicast", "multicast", "broadcast", "local", "anycast", "unreachable", "blackhole", "prohibit",
               "throw", "nat")


def route_argv(group: str) -> list[str]:
    return ["ip", "route", "get", group]


def parse_route_get(group: str, output: str) -> GroupRoute:
    """``ip route get <group>`` output (stdout, or its error text) -> the route.

    >>> parse_route_get("239.1.2.3", "multicast 239.1.2.3 dev eth2 src 10.0.0.5 uid 0 \\n    cache <mc> ").device
    'eth2'
    """
    words = output.split("\n", 1)[0].split()
    if not words or words[0] in ("RTNETLINK", "Error:"):
        return GroupRoute(group, None, error=" ".join(output.split()) or "no answer from ip route get")
    kind = words[0] if words[0] in ROUTE_TYPES else "unicast"

    def after(key: str) -> str | None:
        return words[words.index(key) + 1] if key in words[:-1] else None

    return GroupRoute(group, after("dev"), kind=kind, gateway=after("via"), source=after("src"),
                      error="" if "dev" in words else f"no interface in {' '.join(words)!r}")


def route_problem(route: GroupRoute, data_interface: str) -> str | None:
    """None when the group routes via ``data_interface``; else one line naming the group, the interface it
    routes via and the one expected."""
    group = route.group
    try:
        if not ipaddress.IPv4Address(group).is_multicast:
            return f"{group} is not a multicast group (224.0.0.0/4)"
    except ValueError:
        return f"{group!r} is not an IPv4 multicast group"
    if route.device is None:
        return (f"{group} has no route ({route.error}); it must route via the data interface {data_interface} "
                f"(ip route add {group}/32 dev {data_interface})")
    if route.device != data_interface:
        via = f" (gateway {route.gateway})" if route.gateway else ""
        return (f"{group} routes via {route.device}{via}, not via the data interface {data_interface}: jive5ab "
                f"would join it on {route.device} (ip route add {group}/32 dev {data_interface})")
    return None


def route_summary(route: GroupRoute) -> str:
    """A passing route in a few words, for the preflight's detail."""
    source = f", src {route.source}" if route.source else ""
    return f"{route.group} routes via {route.device} ({route.kind}{source})"


def group_route_problem(group: str, interface: str, *, netns: str | None = None) -> str | None:
    """The katsdpvlbi-style check on this machine: None when ``group`` routes via ``interface``, else why not.

    ``netns``: ask inside that network namespace. Raises CommandFailed when ``ip`` cannot be started or does
    not answer in time (the harness is broken, not the node).
    """
    argv = ["ip", "-n", netns, "route", "get", group] if netns else route_argv(group)
    result = commands.run(argv, timeout=ROUTE_TIMEOUT, check=False, quiet=True)
    return route_problem(parse_route_get(group, result.stdout if result.ok else result.stderr), interface)
