"""The preflight warns when the recorder's control port answers from the sender node over the data network
(harness/scenario/setup.py, "recorder control port not on the data network"): a real reference recorder whose
control port is bound to the data address of a veth made here, probed from a sender namespace made here."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab.info import LabInfo
from harness.recorder.backends import open_reference
from harness.scenario.setup import Preflight, _control_port_exposure

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="makes a network namespace and a veth pair (root)")]

RECORDER_IP, SENDER_IP = "198.19.254.1", "198.19.254.2"
"""RFC 2544 benchmarking addresses (198.18.0.0/15), away from the local lab's 198.18.0.0/30."""


def _ip(*argv: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *argv], check=True, timeout=30, capture_output=True)


@pytest.fixture
def data_network() -> Iterator[LabInfo]:
    """A sender namespace joined to this host by a veth pair: the host end is the recorder's data address."""
    tag = os.getpid() % 100000
    netns, host_end, ns_end = f"vlbi-cp{tag}", f"vlbi-cp{tag}r", f"vlbi-cp{tag}s"
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", netns)
        _ip("addr", "add", f"{RECORDER_IP}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("addr", "add", f"{SENDER_IP}/30", "dev", ns_end, netns=netns)
        _ip("link", "set", ns_end, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        yield LabInfo(root=True, degraded=False, sender_ip=SENDER_IP, recorder_ip=RECORDER_IP, mtu=1500,
                      mount_points=[], disk_glob="", sender_netns=netns, recorder_interface=host_end,
                      sender_interface=ns_end)
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30, check=False)


def _exposure(nodes: LabInfo, bind: str, log_dir: Path) -> tuple[str, str]:
    """The check's detail with a reference recorder whose control port is bound to ``bind``; and its address."""
    with open_reference(log_dir=log_dir, bind=bind) as recorder:
        check = _control_port_exposure(nodes, Preflight(recorders={"recorder": recorder}))
        assert check.name == "recorder control port not on the data network"
        assert check.passed  # advisory: it warns, it never stops a run
        return check.detail, recorder.control_address


def test_a_control_port_answering_on_the_data_address_is_warned_of(data_network: LabInfo, tmp_path: Path) -> None:
    detail, address = _exposure(data_network, RECORDER_IP, tmp_path / "exposed")
    port = address.rsplit(":", 1)[1]
    assert address == f"{RECORDER_IP}:{port}"
    assert detail == (f"WARNING (advisory): {RECORDER_IP}:{port} answers from the sender node; "
                      "firewall the control port on the data network"), detail


def test_a_control_port_on_loopback_is_not(data_network: LabInfo, tmp_path: Path) -> None:
    detail, address = _exposure(data_network, "127.0.0.1", tmp_path / "loopback")
    port = address.rsplit(":", 1)[1]
    assert detail == f"{RECORDER_IP}:{port} does not answer from the sender node", detail
