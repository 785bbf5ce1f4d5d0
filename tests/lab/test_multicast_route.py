"""The multicast route check with plain strings: ``ip route get <group>`` output in, a verdict out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.lab.multicast import GroupRoute, parse_route_get, route_problem, route_summary
from harness.lab.preflight import multicast_route_check

# as iproute2 6.x prints them (the trailing spaces are ip's)
ROUTED = "multicast 239.1.2.3 dev vlbi-rec0 src 198.18.0.1 uid 0 \n    cache <mc> \n"
DEFAULT_ROUTE = "multicast 239.1.2.3 dev eth0 src 192.0.2.2 rt_offload_failed uid 0 \n    cache <mc> \n"
VIA_GATEWAY = "239.1.2.3 via 10.8.0.1 dev mgmt0 src 10.8.0.5 uid 0 \n    cache \n"
UNREACHABLE = "RTNETLINK answers: Network is unreachable\n"


def test_a_group_routed_via_an_interface():
    route = parse_route_get("239.1.2.3", ROUTED)
    assert route == GroupRoute("239.1.2.3", "vlbi-rec0", kind="multicast", source="198.18.0.1")
    assert route_problem(route, "vlbi-rec0") is None
    assert route_summary(route) == "239.1.2.3 routes via vlbi-rec0 (multicast, src 198.18.0.1)"


def test_a_route_without_a_type_word_is_unicast_and_names_its_gateway():
    route = parse_route_get("239.1.2.3", VIA_GATEWAY)
    assert (route.kind, route.device, route.gateway, route.source) == ("unicast", "mgmt0", "10.8.0.1", "10.8.0.5")


def test_a_group_routed_elsewhere_names_the_group_both_interfaces_and_the_fix():
    problem = route_problem(parse_route_get("239.1.2.3", DEFAULT_ROUTE), "vlbi-rec0")
    assert problem == ("239.1.2.3 routes via eth0, not via the data interface vlbi-rec0: jive5ab would join it on "
                       "eth0 (ip route add 239.1.2.3/32 dev vlbi-rec0)")
    assert "\n" not in problem


def test_a_gateway_is_said():
    problem = route_problem(parse_route_get("239.1.2.3", VIA_GATEWAY), "ens1f0")
    assert problem is not None and problem.startswith("239.1.2.3 routes via mgmt0 (gateway 10.8.0.1), not via")


def test_no_route_says_what_ip_said():
    route = parse_route_get("239.1.2.3", UNREACHABLE)
    assert route.device is None and route.error == "RTNETLINK answers: Network is unreachable"
    assert route_problem(route, "ens1f0") == (
        "239.1.2.3 has no route (RTNETLINK answers: Network is unreachable); it must route via the data "
        "interface ens1f0 (ip route add 239.1.2.3/32 dev ens1f0)")


@pytest.mark.parametrize("output", ["", "   \n", "Error: any valid prefix is expected rather than \"x\".\n"])
def test_no_answer_or_an_error_is_no_route(output):
    route = parse_route_get("239.1.2.3", output)
    assert route.device is None and route.error
    assert route_problem(route, "ens1f0") is not None


def test_a_line_without_dev_is_no_interface():
    route = parse_route_get("239.1.2.3", "blackhole 239.1.2.3 uid 0 \n")
    assert route.device is None and route.kind == "blackhole" and "no interface" in route.error


@pytest.mark.parametrize(("group", "reason"), [("198.18.0.1", "198.18.0.1 is not a multicast group (224.0.0.0/4)"),
                                               ("eth0", "'eth0' is not an IPv4 multicast group")])
def test_only_a_multicast_group_passes(group, reason):
    assert route_problem(GroupRoute(group, "eth0", kind="unicast"), "eth0") == reason


@dataclass
class Ran:
    rc: int
    stdout: str
    stderr: str = ""


@dataclass
class FakeNode:
    """A facts.Node stand-in: answers ``ip route get`` with a fixed text and keeps what it was asked."""

    data_interface: str
    answer: Ran
    asked: list[tuple[str, ...]]

    def run(self, command: str, *args: str) -> Ran:
        self.asked.append((command, *args))
        return self.answer


def test_the_preflight_check_asks_the_node_and_judges_its_data_interface():
    node = FakeNode("vlbi-rec0", Ran(0, ROUTED), [])
    check = multicast_route_check(node, "239.1.2.3", "recorder multicast route 239.1.2.3")
    assert node.asked == [("ip", "route", "get", "239.1.2.3")]
    assert (check.name, check.passed, check.advisory) == ("recorder multicast route 239.1.2.3", True, False)
    assert check.detail == "239.1.2.3 routes via vlbi-rec0 (multicast, src 198.18.0.1)"


def test_the_preflight_check_fails_on_the_error_text_of_a_failed_ip():
    node = FakeNode("ens1f0", Ran(2, "", UNREACHABLE), [])
    check = multicast_route_check(node, "239.1.2.3", "rec1 multicast route 239.1.2.3")
    assert not check.passed and check.detail.startswith("239.1.2.3 has no route (RTNETLINK answers")
