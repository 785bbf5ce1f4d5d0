"""The reference recorder's data socket for a group: the join request bytes (built apart with struct), the
options set on the socket, and the refusals; no datagram is sent (tests/recorder/test_multicast.py sends)."""

from __future__ import annotations

import socket
import struct

import pytest

from harness.recorder.cli import EXIT_REFUSED, main
from harness.recorder.reference import multicast
from harness.recorder.reference.transfer import StreamSettings, TransferRefused, open_data_socket
from tests.conftest import free_udp_port

GROUP = "239.1.2.3"


def aton(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def test_without_an_interface_the_join_is_inaddr_any_as_jive5ab():
    assert multicast.membership_request(GROUP, None) == aton(GROUP) + bytes(4)


def test_an_address_joins_on_the_interface_holding_it():
    assert multicast.membership_request(GROUP, "198.18.0.1") == aton(GROUP) + aton("198.18.0.1")


def test_a_name_joins_by_interface_index_in_an_ip_mreqn():
    request = multicast.membership_request(GROUP, "data0", index_of={"data0": 7}.__getitem__)
    assert request == aton(GROUP) + bytes(4) + struct.pack("=i", 7)  # struct ip_mreqn: group, address, index
    assert len(request) == 12


def test_an_unknown_name_is_refused_naming_it():
    def nowhere(name: str) -> int:
        raise OSError(6, "No such device or address")

    with pytest.raises(multicast.InterfaceError, match="'nosuch0': no interface of that name here"):
        multicast.membership_request(GROUP, "nosuch0", index_of=nowhere)


@pytest.mark.parametrize("address", ["239.9.9.9", "0.0.0.0"])
def test_a_group_or_the_wildcard_is_no_interface(address):
    with pytest.raises(multicast.InterfaceError, match="unicast address"):
        multicast.interface_address(address)


def test_the_constant_python_lacks_is_linux_49():
    assert multicast.IP_MULTICAST_ALL == 49


def settings(address: str | None, port: int, interface: str | None = None) -> StreamSettings:
    return StreamSettings("udps", 1032, 1 << 20, 1 << 20, 8, address, port, 1, interface)


@pytest.mark.parametrize("address", [GROUP, "127.0.0.1", None])
def test_every_data_socket_takes_only_groups_it_joined(address):
    sock, _ = open_data_socket(settings(address, free_udp_port(), "lo"))
    try:
        assert sock.getsockopt(socket.IPPROTO_IP, multicast.IP_MULTICAST_ALL) == 0
        assert sock.getsockname()[0] == (address or "0.0.0.0")  # a group's socket is bound to the group
        reuse = sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert bool(reuse) == (address == GROUP)  # several recorders of one group and port; unicast stays exclusive
    finally:
        sock.close()


def test_two_recorders_of_one_group_and_port_both_bind():
    port = free_udp_port()
    first, _ = open_data_socket(settings(GROUP, port, "127.0.0.1"))
    try:
        second, _ = open_data_socket(settings(GROUP, port, "lo"))
        second.close()
    finally:
        first.close()


def test_a_join_on_an_interface_that_is_not_there_is_refused_with_the_reason():
    with pytest.raises(TransferRefused, match=rf"cannot receive on {GROUP}@\d+ \(joining it on nosuch0\): data "
                                              "interface 'nosuch0': no interface of that name here"):
        open_data_socket(settings(GROUP, free_udp_port(), "nosuch0"))


def test_a_join_on_an_address_this_node_lacks_is_refused_with_the_kernels_reason():
    with pytest.raises(TransferRefused, match=rf"cannot receive on {GROUP}@\d+ \(joining it on 198.18.254.254\): "
                                              "No such device"):
        open_data_socket(settings(GROUP, free_udp_port(), "198.18.254.254"))


def test_vdif_record_refuses_at_start_a_data_interface_this_node_lacks(capsys):
    assert main(["--port", "0", "--data-interface", "nosuch0"]) == EXIT_REFUSED
    assert "vdif-record: data interface 'nosuch0': no interface of that name here" in capsys.readouterr().err
