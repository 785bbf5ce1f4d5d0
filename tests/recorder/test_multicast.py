"""``net_port = <group>@<port>``: the reference recorder joins a multicast group and records it.

The recorder runs in a network namespace of the test's own, joined to the host by a veth pair with
MTU 9000 (198.19.250.0/30, inside the benchmarking range 198.18.0.0/15); the sender multicasts out
of the host end. The harness attaches to that recorder by its control address, as to a remote one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.recorder import RecorderConfig, open_recorder
from tests.recorder.conftest import IS_ROOT, drained, listening_address, read_chunks, send

pytestmark = [pytest.mark.root, pytest.mark.skipif(not IS_ROOT, reason="needs root for a network namespace"),
              pytest.mark.serial]  # fixed addresses and group; the host's multicast route

HOST_IP, NODE_IP, GROUP = "198.19.250.1", "198.19.250.2", "239.1.2.3"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"rectest{os.getpid() % 100000}"
    host_end, node_end = f"rt{os.getpid() % 100000}a", f"rt{os.getpid() % 100000}b"
    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
        ip("link", "set", node_end, "netns", name)
        ip("addr", "add", f"{HOST_IP}/30", "dev", host_end)
        ip("link", "set", host_end, "mtu", "9000", "up")
        ip("-n", name, "addr", "add", f"{NODE_IP}/30", "dev", node_end)
        ip("-n", name, "link", "set", node_end, "mtu", "9000", "up")
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "route", "add", "239.0.0.0/8", "dev", node_end)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_end], check=False, timeout=30, capture_output=True)
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def test_a_multicast_stream_across_a_veth_is_recorded(namespace, tmp_path, data_port):
    recorder = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m", "harness.recorder",
                                 "--port", "0", "--bind", NODE_IP, "-B", "1M"], stderr=subprocess.PIPE, text=True)
    try:
        with open_recorder("reference", log_dir=tmp_path / "logs", control=listening_address(recorder)) as rec:
            rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", mtu=9000, data_port=data_port,
                                         data_address=GROUP, disks=[str(tmp_path)], workbuf="1M", frame_bytes=1032))
            rec.record_on("mcast")
            sent = send(data_port, frames=200, host=GROUP, bind=HOST_IP)
            drained(rec, data_port, pid=recorder.pid)
            result = rec.record_off()
        assert (result.packets, result.lost) == (800, 0)
        assert read_chunks(result.files).tobytes() == sent.frames.tobytes()
    finally:
        recorder.terminate()
        recorder.wait(30)
        if recorder.stderr is not None:
            recorder.stderr.close()
