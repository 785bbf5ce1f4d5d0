"""Multicast on a node of the test's own: the group is joined on the data interface, and two streams on two
groups and one port never mix (the ``IP_MULTICAST_ALL`` pitfall, harness.recorder.reference.multicast).

Two network namespaces, a recorder node and a sender node, joined by two links: the data network and a
management network, which the recorder node's default route points to (as on a FlexBuff whose data port is
not its default route). The harness drives the recorders over a third veth from this machine (a /30 picked
from the process id in 198.19.192.0/18, so that parallel test processes do not collide). Everything is removed
at the end, pass or fail: the namespaces take their links with them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.checker import Expectation, check_scan
from harness.formats.vdif.header import headers_view, station_name, unpack_headers
from harness.lab.multicast import group_route_problem
from harness.recorder import RecorderConfig, ScanResult, VsisRecorder, open_recorder
from harness.recorder.processes import wait_for_port
from tests.recorder.conftest import IS_ROOT, JIVE5AB_BIN, drained, listening_address, read_chunks, send

pytestmark = [pytest.mark.root, pytest.mark.skipif(not IS_ROOT, reason="needs root for network namespaces"),
              pytest.mark.serial]  # fixed addresses and groups; the host's multicast routes

GROUP_A, GROUP_B = "239.7.1.1", "239.7.1.2"
STATION_A, STATION_B = "AA", "BB"
DATA_IP, SENDER_IP = "198.19.252.2", "198.19.252.1"
MGMT_IP, SENDER_MGMT_IP = "198.19.253.1", "198.19.253.2"
"""The recorder node's management port and the sender node's end of that network."""
MODE, FRAME, THREADS, FRAMES = "VDIF_1000-8-1-2", 1032, 4, 200


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], timeout=30, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass(frozen=True)
class Lab:
    """The two nodes: namespaces, interface names, the control addresses."""

    recorder: str
    sender: str
    data: str
    """The recorder node's data interface (its veth to the sender node)."""
    mgmt: str
    sender_data: str
    host_end: str
    control_ip: str
    host_ip: str

    def route_groups_via(self, device: str) -> None:
        ip("-n", self.recorder, "route", "replace", "239.0.0.0/8", "dev", device)


@pytest.fixture
def lab() -> Iterator[Lab]:
    tag = os.getpid() % 100000
    control = ipaddress.IPv4Address("198.19.192.0") + 4 * (os.getpid() % 4096)  # one of the /30s of a /18
    node = Lab(recorder=f"mcrec{tag}", sender=f"mcsnd{tag}", data=f"mc{tag}data", mgmt=f"mc{tag}mgmt",
               sender_data=f"mc{tag}snd", host_end=f"mc{tag}host", control_ip=str(control + 2),
               host_ip=str(control + 1))
    ip("netns", "add", node.recorder)
    try:
        ip("netns", "add", node.sender)
        ip("link", "add", node.host_end, "type", "veth", "peer", "name", "ctl0", "netns", node.recorder)
        ip("addr", "add", f"{node.host_ip}/30", "dev", node.host_end)
        ip("link", "set", node.host_end, "up")
        ip("-n", node.recorder, "addr", "add", f"{node.control_ip}/30", "dev", "ctl0")
        ip("-n", node.recorder, "link", "set", "ctl0", "up")
        ip("-n", node.recorder, "link", "set", "lo", "up")
        ip("-n", node.recorder, "link", "add", node.data, "type", "veth", "peer", "name", node.sender_data,
           "netns", node.sender)
        ip("-n", node.recorder, "addr", "add", f"{DATA_IP}/30", "dev", node.data)
        ip("-n", node.recorder, "link", "set", node.data, "mtu", "9000", "up")
        ip("-n", node.sender, "addr", "add", f"{SENDER_IP}/30", "dev", node.sender_data)
        ip("-n", node.sender, "link", "set", node.sender_data, "mtu", "9000", "up")
        ip("-n", node.sender, "link", "set", "lo", "up")
        ip("-n", node.sender, "route", "add", "239.0.0.0/8", "dev", node.sender_data)
        # the management network: a second link between the nodes, where the default route points
        ip("-n", node.recorder, "link", "add", node.mgmt, "type", "veth", "peer", "name", "mgmt0", "netns",
           node.sender)
        ip("-n", node.recorder, "addr", "add", f"{MGMT_IP}/30", "dev", node.mgmt)
        ip("-n", node.recorder, "link", "set", node.mgmt, "up")
        ip("-n", node.sender, "addr", "add", f"{SENDER_MGMT_IP}/30", "dev", "mgmt0")
        ip("-n", node.sender, "link", "set", "mgmt0", "up")
        ip("-n", node.recorder, "route", "add", "default", "dev", node.mgmt)  # groups route here unless told
        yield node
    finally:
        subprocess.run(["ip", "link", "del", node.host_end], check=False, timeout=30, capture_output=True)
        for name in (node.sender, node.recorder):
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=30, capture_output=True)


@contextmanager
def reference_recorder(lab: Lab, data_interface: str, log_dir: Path) -> Iterator[VsisRecorder]:
    """A vdif-record on the recorder node, joining groups on ``data_interface``, driven from here."""
    process = subprocess.Popen(["ip", "netns", "exec", lab.recorder, sys.executable, "-m", "harness.recorder",
                                "--port", "0", "--bind", lab.control_ip, "-B", "1M",
                                "--data-interface", data_interface], stderr=subprocess.PIPE, text=True)
    try:
        with open_recorder("reference", log_dir=log_dir, control=listening_address(process)) as rec:
            yield rec
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def configure(rec: VsisRecorder, group: str, port: int, disk: Path) -> None:
    disk.mkdir(exist_ok=True)
    rec.configure(RecorderConfig(mode=MODE, protocol="udps", mtu=9000, data_port=port, data_address=group,
                                 disks=[str(disk)], workbuf="1M", frame_bytes=FRAME))


def stations(result: ScanResult) -> Counter[str]:
    """Frames per station in a recording (jive5ab's fill frames and other invalid ones under ``invalid``)."""
    frames = read_chunks(result.files)
    if not frames.size:
        return Counter()
    fields = unpack_headers(headers_view(frames, FRAME), edv=None)
    names = ["invalid" if bad else station_name(int(sid)) for sid, bad in zip(fields["station"], fields["invalid"],
                                                                             strict=True)]
    return Counter(names)


def recorder_pid(lab: Lab) -> int:
    """A process in the recorder node's namespace (for its /proc/<pid>/net/udp)."""
    done = subprocess.run(["ip", "netns", "pids", lab.recorder], capture_output=True, text=True, timeout=30,
                          check=True)
    return int(done.stdout.split()[0])


def send_all(lab: Lab, port: int, streams: dict[str, tuple[str, str, str]]) -> dict[str, bytes]:
    """Several senders at once on the sender node, ``name -> (destination, source address, station)``: the frames
    each sent."""
    with ThreadPoolExecutor(len(streams)) as pool:
        jobs = {name: pool.submit(send, port, frames=FRAMES, threads=THREADS, host=host, bind=bind, station=station,
                                  netns=lab.sender)
                for name, (host, bind, station) in streams.items()}
        return {name: job.result().frames.tobytes() for name, job in jobs.items()}


def send_both(lab: Lab, port: int) -> dict[str, bytes]:
    """Station AA to group A and BB to group B, both over the data network."""
    return send_all(lab, port, {GROUP_A: (GROUP_A, SENDER_IP, STATION_A), GROUP_B: (GROUP_B, SENDER_IP, STATION_B)})


def test_the_group_is_joined_on_the_data_interface_though_it_routes_elsewhere(lab, tmp_path, data_port):
    # the katsdpvlbi-style check sees what jive5ab would do here: join on the management interface
    problem = group_route_problem(GROUP_A, lab.data, netns=lab.recorder)
    assert problem is not None and f"routes via {lab.mgmt}, not via the data interface {lab.data}" in problem
    with reference_recorder(lab, lab.data, tmp_path / "logs") as rec:
        configure(rec, GROUP_A, data_port, tmp_path / "disk")
        rec.record_on("routed_elsewhere")
        sent = send(data_port, frames=FRAMES, threads=THREADS, host=GROUP_A, bind=SENDER_IP, station=STATION_A,
                    netns=lab.sender)
        drained(rec, data_port, pid=recorder_pid(lab))
        result = rec.record_off()
    assert (result.packets, result.lost) == (FRAMES * THREADS, 0)
    assert read_chunks(result.files).tobytes() == sent.frames.tobytes()


def test_two_groups_on_one_port_never_mix(lab, tmp_path, data_port):
    lab.route_groups_via(lab.data)  # as the preflight wants it (and as jive5ab needs it)
    assert group_route_problem(GROUP_A, lab.data, netns=lab.recorder) is None
    # one recorder names the data interface, the other its address (the harness passes the lab's data address)
    with reference_recorder(lab, lab.data, tmp_path / "logs-a") as rec_a, \
            reference_recorder(lab, DATA_IP, tmp_path / "logs-b") as rec_b:
        configure(rec_a, GROUP_A, data_port, tmp_path / "disk-a")
        configure(rec_b, GROUP_B, data_port, tmp_path / "disk-b")
        rec_a.record_on("group_a")
        rec_b.record_on("group_b")
        sent = send_both(lab, data_port)
        pid = recorder_pid(lab)
        for rec in (rec_a, rec_b):
            drained(rec, data_port, pid=pid)
        results = {GROUP_A: rec_a.record_off(), GROUP_B: rec_b.record_off()}
    measured = {group: dict(stations(result)) for group, result in results.items()}
    for (group, station, disk, scan) in ((GROUP_A, STATION_A, "disk-a", "group_a"),
                                         (GROUP_B, STATION_B, "disk-b", "group_b")):
        result = results[group]
        assert measured[group] == {station: FRAMES * THREADS}, f"frames per station recorded: {measured}"
        assert (result.packets, result.lost) == (FRAMES * THREADS, 0)
        assert read_chunks(result.files).tobytes() == sent[group]
        checked = check_scan(scan, str(tmp_path / disk), Expectation(
            frame_bytes=FRAME, threads=tuple(range(THREADS)), station=station, payload="pattern",
            expected_frames=FRAMES * THREADS))
        assert checked.clean and checked.frame_counts.frames == FRAMES * THREADS, checked.summary()


STRANGER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(sys.argv[1]) + socket.inet_aton(sys.argv[2]))
print("joined", flush=True)
sys.stdin.readline()
"""


def test_a_recorder_takes_neither_its_group_from_another_interface_nor_unicast_to_its_port(lab, tmp_path, data_port):
    """Each guard on its own: IP_MULTICAST_ALL 0 keeps out the group's copy on the management network (another
    process joined it there), the bind to the group keeps out unicast datagrams to the same port."""
    lab.route_groups_via(lab.data)
    stranger = subprocess.Popen(["ip", "netns", "exec", lab.recorder, sys.executable, "-c", STRANGER, GROUP_A,
                                 MGMT_IP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert stranger.stdout is not None and stranger.stdout.readline().strip() == "joined"
        with reference_recorder(lab, lab.data, tmp_path / "logs") as rec:
            configure(rec, GROUP_A, data_port, tmp_path / "disk")
            rec.record_on("strangers")
            sent = send_all(lab, data_port, {"own": (GROUP_A, SENDER_IP, STATION_A),
                                             "same group, management network": (GROUP_A, SENDER_MGMT_IP, "ZZ"),
                                             "unicast to the data address": (DATA_IP, SENDER_IP, "UU")})
            drained(rec, data_port, pid=recorder_pid(lab))
            result = rec.record_off()
    finally:
        stranger.communicate("done\n", timeout=30)
    assert stations(result) == {STATION_A: FRAMES * THREADS}, f"frames per station recorded: {dict(stations(result))}"
    assert (result.packets, result.lost) == (FRAMES * THREADS, 0)
    assert read_chunks(result.files).tobytes() == sent["own"]


# -- the kernel's side of it: the pitfall is real here, and either guard alone keeps two groups apart --------------

PROBE = r"""
import json, select, socket, sys
groups, port = sys.argv[1].split(","), int(sys.argv[2])
bind_group, multicast_all, interface = sys.argv[3] == "group", int(sys.argv[4]), sys.argv[5]
sockets = []
for group in groups:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IP, 49, multicast_all)  # IP_MULTICAST_ALL
    s.bind((group if bind_group else "0.0.0.0", port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(interface))
    sockets.append(s)
print("ready", flush=True)
sys.stdin.readline()
got = {group: [] for group in groups}
while True:
    ready = select.select(sockets, [], [], 0.5)[0]
    if not ready:
        break
    for s in ready:
        got[groups[sockets.index(s)]].append(s.recv(64).decode())
print(json.dumps(got), flush=True)
"""

SEND_ONE_EACH = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
for group in sys.argv[2].split(","):
    s.sendto(group.encode(), (group, int(sys.argv[3])))
"""


@pytest.mark.parametrize(("bind", "multicast_all", "mixes"), [
    pytest.param("any", 1, True, id="INADDR_ANY-IP_MULTICAST_ALL=1-as-jive5ab"),
    pytest.param("any", 0, False, id="INADDR_ANY-IP_MULTICAST_ALL=0"),
    pytest.param("group", 1, False, id="bound-to-the-group-IP_MULTICAST_ALL=1"),
    pytest.param("group", 0, False, id="bound-to-the-group-IP_MULTICAST_ALL=0-as-vdif-record"),
])
def test_what_a_socket_for_one_group_receives(lab, data_port, bind, multicast_all, mixes):
    lab.route_groups_via(lab.data)
    probe = subprocess.Popen(["ip", "netns", "exec", lab.recorder, sys.executable, "-c", PROBE,
                              f"{GROUP_A},{GROUP_B}", str(data_port), bind, str(multicast_all), DATA_IP],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert probe.stdout is not None and probe.stdout.readline().strip() == "ready", probe.stderr
        subprocess.run(["ip", "netns", "exec", lab.sender, sys.executable, "-c", SEND_ONE_EACH, SENDER_IP,
                        f"{GROUP_A},{GROUP_B}", str(data_port)], check=True, timeout=30)
        out, err = probe.communicate("sent\n", timeout=30)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.communicate(timeout=30)
    got = json.loads(out)
    expected = {GROUP_A: [GROUP_A, GROUP_B], GROUP_B: [GROUP_A, GROUP_B]} if mixes else \
        {GROUP_A: [GROUP_A], GROUP_B: [GROUP_B]}
    assert {group: sorted(seen) for group, seen in got.items()} == expected, err


# -- jive5ab in the same situation: an observation, not a requirement --------------------------------------------


@contextmanager
def jive5ab(lab: Lab, port: int, log: Path) -> Iterator[VsisRecorder]:
    assert JIVE5AB_BIN is not None
    with log.open("w") as output:
        process = subprocess.Popen(["ip", "netns", "exec", lab.recorder, JIVE5AB_BIN, "-m", "1", "-p", str(port),
                                    "-B", "1M"], stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(lab.control_ip, port, 30.0, lambda: process.poll() is None)
        control = f"{lab.control_ip}:{port}"
        with open_recorder("jive5ab", log_dir=log.parent / f"control-{port}", control=control) as rec:
            yield rec
    finally:
        stop(process)


@pytest.mark.jive5ab
@pytest.mark.skipif(not JIVE5AB_BIN, reason="JIVE5AB_BIN is not set: no jive5ab binary to test against")
def test_what_two_jive5abs_on_two_groups_and_one_port_record(lab, tmp_path, data_port, make_disks):
    lab.route_groups_via(lab.data)
    disk_a, disk_b = make_disks("64m", "64m")  # jive5ab records onto real mounts only
    with jive5ab(lab, 2620, tmp_path / "jive5ab-a.log") as rec_a, \
            jive5ab(lab, 2621, tmp_path / "jive5ab-b.log") as rec_b:
        configure(rec_a, GROUP_A, data_port, Path(disk_a))
        configure(rec_b, GROUP_B, data_port, Path(disk_b))
        rec_a.record_on("j5a_group_a")
        rec_b.record_on("j5a_group_b")
        time.sleep(0.5)  # jive5ab binds its data socket after replying to record=on
        send_both(lab, data_port)
        pid = recorder_pid(lab)
        for rec in (rec_a, rec_b):
            drained(rec, data_port, pid=pid)
        results = {GROUP_A: rec_a.record_off(), GROUP_B: rec_b.record_off()}
    measured = {group: dict(stations(result)) for group, result in results.items()}
    packets = {group: (result.packets, result.lost) for group, result in results.items()}
    own = {GROUP_A: STATION_A, GROUP_B: STATION_B}
    if any(set(measured[group]) - {own[group]} for group in measured):
        pytest.xfail(f"jive5ab 3.1.0 mixes two groups on one port (binds INADDR_ANY, IP_MULTICAST_ALL left at 1): "
                     f"frames per station {measured}, (packets, lost) {packets}, {FRAMES * THREADS} sent per group")
    assert measured == {GROUP_A: {STATION_A: FRAMES * THREADS}, GROUP_B: {STATION_B: FRAMES * THREADS}}


@pytest.mark.jive5ab
@pytest.mark.skipif(not JIVE5AB_BIN, reason="JIVE5AB_BIN is not set: no jive5ab binary to test against")
def test_what_jive5ab_records_when_the_group_routes_elsewhere(lab, tmp_path, data_port, make_disks):
    (disk,) = make_disks("64m")
    with jive5ab(lab, 2620, tmp_path / "jive5ab.log") as rec:
        configure(rec, GROUP_A, data_port, Path(disk))
        rec.record_on("j5a_routed_elsewhere")
        time.sleep(0.5)
        send(data_port, frames=FRAMES, threads=THREADS, host=GROUP_A, bind=SENDER_IP, station=STATION_A,
             netns=lab.sender)
        drained(rec, data_port, pid=recorder_pid(lab))
        result = rec.record_off()
    if result.packets < FRAMES * THREADS:
        pytest.xfail(f"jive5ab 3.1.0 joins with INADDR_ANY, on the interface the group routes via ({lab.mgmt}), not "
                     f"the data interface: {result.packets} of {FRAMES * THREADS} datagrams received, "
                     f"{dict(stations(result))} recorded")
    assert stations(result) == {STATION_A: FRAMES * THREADS}
