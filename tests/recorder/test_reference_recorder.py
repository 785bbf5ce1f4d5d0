"""The reference recorder as a process: its VSI-S answers to odd input, SIGTERM, and jive5ab's own recording replayed.

Every test talks to a real ``vdif-record`` over TCP and sends real UDP.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.recorder import RecorderConfig, VsisRecorder, open_recorder
from harness.recorder.backends import parse_control
from tests.recorder.conftest import DATA, drained, read_chunks, send, udp_queued
from tests.waiting import wait_until

FRAME = 1032


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[VsisRecorder]:
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M") as rec:
        yield rec


def ask(rec: VsisRecorder, line: str) -> str:
    return " ".join(r.raw for r in rec.client.exchange(line))


def code(rec: VsisRecorder, line: str) -> int:
    return rec.client.exchange(line)[0].code


def test_malformed_and_refused_commands_get_jive5abs_codes(reference, tmp_path):
    assert ask(reference, "nonsense") == "!syntax = 7 : Not a command or query;"
    assert ask(reference, "bogus?") == "!bogus? 7 : ENOSYS - not implemented ;"
    assert ask(reference, "record = off") == "!record=  6 : Not doing record ;"
    assert ask(reference, "record = ON") == "!record=  2 : ON does not apply to record ;"
    assert code(reference, "mtu = 99999") == 6 and code(reference, "mtu = x") == 6
    assert code(reference, "net_port = abc") == 8 and code(reference, "net_port = 70000") == 8
    assert code(reference, "net_protocol = bogus") == 6 and code(reference, "net_protocol = tcp") == 2
    assert code(reference, "net_protocol = udps : 4G") == 8
    assert code(reference, "mode = garbage") == 4 and code(reference, "mode = VDIF_1001-8-1-2") == 4
    assert code(reference, "set_disks = /nonexistent*") == 8
    assert code(reference, "record = on : x") == 6  # no mode yet
    assert code(reference, "mode = VDIF_1000-8-1-2") == 0
    assert ask(reference, "record = on : x") == "!record = 4 : No mountpoints selected to record on?!;"
    assert code(reference, f"set_disks = {tmp_path}") == 0
    for name in ("../escape", "a*b", "x..y", "-/"):
        assert code(reference, f"record = on : {name}") == 8, name
    assert code(reference, "record = nthread : : 0") == 6 and code(reference, "record = nthread : : 3") == 0
    assert ask(reference, "record ? nthread") == "!record?  0 : 1 : 3 ;"
    assert ask(reference, "mtu? ; net_port? ;") == "!mtu? 0 : 1500 ; !net_port? 0 : 2630 ;"
    assert ask(reference, "version?").startswith("!version?  0 : vdif-record : ")
    assert ask(reference, "evlbi = %t : %l") == "!evlbi= 0 : 0 : 0 ;"
    assert not list(tmp_path.parent.glob("escape*"))


def test_line_framing(reference):
    host, port = parse_control(reference.client.address)
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(b"\n ; ;;\n")  # no command: no reply, as from jive5ab
        conn.sendall(b"mt")
        time.sleep(0.1)
        conn.sendall(b"u?\r\n")  # split over two segments: still one command here; CRLF in, CRLF out
        assert conn.recv(1024) == b"!mtu? 0 : 1500 ;\r\n"
        conn.sendall(b"mtu? ; net_port? ;\n")  # several commands: one joined reply line
        assert conn.recv(1024) == b"!mtu? 0 : 1500 ;!net_port? 0 : 2630 ;\n"
        conn.sendall(b"x" * 70000)  # not VSI-S: dropped, the recorder carries on
        time.sleep(0.3)
        assert conn.recv(1024) == b""
    assert ask(reference, "mtu?") == "!mtu? 0 : 1500 ;"


def test_busy_configuration_and_query_shapes_while_recording(reference, tmp_path, data_port):
    reference.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", mtu=9000, data_port=data_port,
                                       disks=[str(tmp_path)], workbuf="1M", frame_bytes=FRAME))
    reference.record_on("busy")
    assert ask(reference, "mode = VDIF_1000-8-1-2") == "!mode= 6 : not whilst vbsrecord is in progress ;"
    assert code(reference, "net2file = open : /tmp/x,w") == 6
    assert ask(reference, "record = on : again") == "!record=  6 : Already doing vbsrecord ;"
    assert ask(reference, "record?") == "!record?  0 : on : 1 : busy : 0 ;"
    constraints = ask(reference, "constraints?")
    assert constraints.startswith("!constraints?  0 : 2tr : VDIF : 4000000bps/tr : [<framesize:1032> ")
    assert "<read_size:1032>" in constraints and "<blocksize:1048512>" in constraints
    assert ask(reference, "tstat=").startswith("!tstat=  0 : ") and "vbsrecord : UdpsReadBH : 0" in ask(reference,
                                                                                                      "tstat=")
    reference.record_off()
    assert ask(reference, "tstat=") == "!tstat= 0 : 0.0 : no_transfer ;"


def test_sigterm_writes_out_the_scan_in_progress(tmp_path, data_port):
    rec = open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M")
    try:
        rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", mtu=9000, data_port=data_port,
                                     disks=[str(tmp_path)], workbuf="1M", frame_bytes=FRAME))
        rec.record_on("term")
        sent = send(data_port, frames=300)  # 1200 frames: one whole chunk and a partial one
        drained(rec, data_port)
        owner = rec.owner
        assert owner is not None
        assert owner.stop() == 0  # SIGTERM
    finally:
        rec.client.close()
    files = sorted((tmp_path / "term").glob("term.*"))
    assert [f.stat().st_size for f in files] == [1016 * FRAME, 184 * FRAME]
    np.testing.assert_array_equal(read_chunks([str(f) for f in files]).reshape(-1, FRAME), sent.frames)
    log = (tmp_path / "logs" / "recorder.log").read_text()
    assert "signal 15" in log and "vbsrecord term stopped: 1200 packets" in log


def test_plain_directories_are_accepted_with_a_warning(reference, tmp_path):
    assert ask(reference, f"set_disks = {tmp_path}") == "!set_disks=  0 : 1 ;"
    log = (tmp_path / "logs" / "recorder.log").read_text()
    if subprocess.run(["findmnt", "-n", "--target", str(tmp_path), "-o", "TARGET"], capture_output=True,
                      text=True).stdout.strip() == "/":
        assert "on the root filesystem" in log


def test_replaying_jive5abs_lossy_recording_gives_the_same_bytes(reference, tmp_path, data_port):
    """mk_lossy: 2000 datagrams of which sequence numbers 100-102, 500, 1500 were never sent; recorded by jive5ab."""
    chunks = [DATA / "disk0" / "mk_lossy" / "mk_lossy.00000000", DATA / "disk1" / "mk_lossy" / "mk_lossy.00000001"]
    original = read_chunks([str(c) for c in chunks]).reshape(-1, FRAME)
    missing = [100, 101, 102, 500, 1500]
    disks = [tmp_path / "d0", tmp_path / "d1"]
    for d in disks:
        d.mkdir()
    reference.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", socket_buffer="4M", workbuf="1M",
                                       nbuf=4, mtu=9000, data_port=data_port, disks=[str(d) for d in disks],
                                       frame_bytes=FRAME))
    reference.record_on("mk_lossy")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for seq in range(2000):
            if seq in missing:
                continue
            tx.sendto(seq.to_bytes(8, "little") + original[seq].tobytes(), ("127.0.0.1", data_port))
            if seq % 200 == 0:  # never more queued than the 4 MB socket buffer holds, however busy the machine
                wait_until(lambda: udp_queued(data_port) == 0, what="the recorder to empty its socket")
    drained(reference, data_port)
    result = reference.record_off()
    assert (result.packets, result.lost) == (1995, 5)
    assert [Path(f).stat().st_size for f in result.files] == [c.stat().st_size for c in chunks]
    np.testing.assert_array_equal(read_chunks(result.files).reshape(-1, FRAME), original)


def test_cli_refuses_bad_arguments_and_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "harness.recorder", "--port", str(port)], capture_output=True,
                              text=True, timeout=30)
    assert done.returncode == 2 and "vdif-record:" in done.stderr
    done = subprocess.run([sys.executable, "-m", "harness.recorder", "--block-size", "12G"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "12G" in done.stderr


def test_control_cli_sends_lines_by_hand(reference):
    command = [sys.executable, "-m", "harness.recorder.control", reference.client.address]
    done = subprocess.run([*command, "mtu=9000", "mtu?", "record=off"], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == ["!mtu= 0 ;", "!mtu? 0 : 9000 ;", "!record=  6 : Not doing record ;"]
    assert done.returncode == 1  # one reply was not 0 or 1
    assert subprocess.run([*command, "mtu?"], capture_output=True, timeout=30).returncode == 0
    from tests.conftest import free_udp_port

    nobody = subprocess.run([*command[:-1], f"127.0.0.1:{free_udp_port()}", "mtu?"], capture_output=True, text=True,
                            timeout=30)
    assert nobody.returncode == 2 and "cannot connect" in nobody.stderr


def test_net2file_and_set_disks_write_only_where_it_is_allowed(tmp_path, data_port):
    """It runs as root: a local user of the control port must not make it truncate or create files elsewhere."""
    disk, victim = tmp_path / "disk0", tmp_path / "victim"
    disk.mkdir()
    victim.write_text("keep me\n")
    (disk / "link").symlink_to(victim)
    (disk / "hard").hardlink_to(victim)
    with open_recorder("reference", log_dir=tmp_path / "logs", block_size="1M", mounts=[str(disk)]) as rec:
        assert ask(rec, f"net2file = open : {victim},w").startswith("!net2file = 4 : net2file writes only inside")
        assert ask(rec, "set_disks = /") == "!set_disks=  8 : / outside what vdif-record may write (--allow) ;"
        assert ask(rec, f"set_disks = {tmp_path}").startswith("!set_disks=  8 : ")
        rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="pudp", mtu=9000, data_port=data_port,
                                     disks=[str(disk)], workbuf="1M", frame_bytes=FRAME))
        for target in (victim, disk / ".." / "victim", disk / "link", disk / "hard"):
            assert ask(rec, f"net2file = open : {target},w").startswith("!net2file = 4 : "), target
        assert victim.read_text() == "keep me\n"
        assert ask(rec, f"net2file = open : {disk}/flat.vdif,w") == "!net2file=  0 : 0 ;"
        assert ask(rec, "net2file = close") == "!net2file=  0 ;"


def test_more_writers_than_mount_points_lose_no_chunk(reference, tmp_path, data_port):
    """Two writers and one mount point (a KATCP product directory is one): a writer waits for the mount point the
    other is writing to. It once dropped the chunk as 'no usable mount point left' while the recorder counted
    every packet received (found by the katcp backend's sensor judgement)."""
    disk = tmp_path / "only"
    disk.mkdir()
    reference.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", data_port=data_port,
                                       data_address="127.0.0.1", disks=[str(disk)], workbuf="1M", writers=2,
                                       frame_bytes=FRAME))
    reference.record_on("two_writers")
    sent = send(data_port, frames=1000, threads=4)
    drained(reference, data_port)
    result = reference.record_off()
    assert (result.packets, result.lost) == (4000, 0)
    assert len(result.files) >= 4 and result.bytes == 4000 * FRAME
    assert read_chunks(result.files).tobytes() == sent.frames.tobytes()
