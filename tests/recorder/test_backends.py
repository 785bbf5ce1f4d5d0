"""Getting a recorder: by name, attached or started, and what a dead or missing one looks like."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.recorder import (
    BACKENDS,
    ConnectionLost,
    RecorderConfig,
    RecorderDied,
    RecorderError,
    open_recorder,
)
from harness.recorder.backends import parse_control
from tests.recorder.conftest import JIVE5AB_BIN, drained, listening_address, read_chunks, send
from tests.waiting import wait_until

FRAME = 1032


def test_backends_by_name():
    assert set(BACKENDS) == {"reference", "jive5ab", "katcp"}
    with pytest.raises(ValueError, match="not one of"):
        open_recorder("mark5", log_dir="/tmp/unused")


def test_control_addresses():
    assert parse_control("127.0.0.1:2620") == ("127.0.0.1", 2620)
    assert parse_control("[::1]:2620") == ("::1", 2620)
    for bad in ("2620", "host:", "host:99999"):
        with pytest.raises(ValueError):
            parse_control(bad)


def test_jive5ab_needs_somewhere_to_come_from(tmp_path, monkeypatch):
    monkeypatch.delenv("JIVE5AB_BIN", raising=False)
    with pytest.raises(RecorderError, match="control host:port, a binary"):
        open_recorder("jive5ab", log_dir=tmp_path)
    with pytest.raises(RecorderError, match="not an executable"):
        open_recorder("jive5ab", log_dir=tmp_path, binary=str(tmp_path / "missing"))


def test_started_reference_has_a_pid_and_a_log(tmp_path):
    with open_recorder("reference", log_dir=tmp_path) as rec:
        assert rec.backend == "reference" and rec.version().startswith("vdif-record ")
        pid = rec.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{pid}/status").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    log = (tmp_path / "recorder.log").read_text()
    assert log.startswith("# ") and "started:" in log and "-m harness.recorder --port 0" in log
    assert "exit code 0" in log
    transcript = (tmp_path / "recorder-control.log").read_text()
    assert re.search(r"^\d+\.\d{3} > version\? ;$", transcript, re.M) and " < !version?  0 : vdif-record" in transcript


def test_attach_to_a_recorder_started_by_hand(tmp_path, data_port):
    (tmp_path / "disk0").mkdir()  # before it starts: an empty --disks glob is refused
    by_hand = subprocess.Popen([sys.executable, "-m", "harness.recorder", "--port", "0", "-B", "1M", "--disks",
                                str(tmp_path / "disk*")], stderr=subprocess.PIPE, text=True)
    try:
        control = listening_address(by_hand)
        with open_recorder("reference", log_dir=tmp_path / "logs", control=control) as rec:
            assert rec.pid is None
            rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="pudp", mtu=9000, data_port=data_port,
                                         disks=str(tmp_path / "disk*"), frame_bytes=FRAME))
            rec.record_on("attached")
            sent = send(data_port, frames=50, udps=False)
            drained(rec, data_port)
            result = rec.record_off()
        assert by_hand.poll() is None  # attached: closing leaves it running
        assert read_chunks(result.files).tobytes() == sent.frames.tobytes()
    finally:
        by_hand.send_signal(signal.SIGTERM)
        by_hand.wait(30)
        if by_hand.stderr is not None:
            by_hand.stderr.close()
    assert by_hand.returncode == 0


def test_a_recorder_that_dies_is_reported_with_its_log(tmp_path, data_port):
    rec = open_recorder("reference", log_dir=tmp_path, block_size="1M")
    try:
        rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", mtu=9000, data_port=data_port,
                                     disks=[str(tmp_path)], workbuf="1M", frame_bytes=FRAME))
        rec.record_on("doomed")
        assert rec.pid is not None
        os.kill(rec.pid, signal.SIGKILL)
        pid = rec.pid
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text(),
                   what="the killed recorder to end")
        with pytest.raises(RecorderDied) as died:
            rec.status()
        assert died.value.backend == "reference" and "exited with code -9" in str(died.value)
        assert "vbsrecord doomed started" in (died.value.log_tail or "")
    finally:
        rec.close()


def test_nothing_listening_is_a_connection_error(tmp_path):
    from tests.conftest import free_udp_port

    with pytest.raises(ConnectionLost, match="cannot connect"):
        open_recorder("jive5ab", log_dir=tmp_path, control=f"127.0.0.1:{free_udp_port()}")


def test_a_data_port_in_use_is_refused_at_record_on(tmp_path, data_port):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter, \
            open_recorder("reference", log_dir=tmp_path) as rec:
        squatter.bind(("0.0.0.0", data_port))
        rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", mtu=9000, data_port=data_port,
                                     disks=[str(tmp_path)], frame_bytes=FRAME))
        with pytest.raises(RecorderError, match="cannot receive on"):
            rec.record_on("squatted")


@pytest.mark.docker
@pytest.mark.jive5ab
@pytest.mark.skipif(not os.environ.get("JIVE5AB_IMAGE"),
                    reason="JIVE5AB_IMAGE is not set: no jive5ab image to start (the harness never builds one)")
def test_jive5ab_in_a_container(tmp_path, make_disks, data_port):
    disks = make_disks("64m", "64m")
    with open_recorder("jive5ab", log_dir=tmp_path / "logs", image=os.environ["JIVE5AB_IMAGE"], block_size="1M",
                       mounts=disks) as rec:
        assert rec.pid is None and rec.version().startswith("jive5ab")
        rec.configure(RecorderConfig(mode="VDIF_1000-8-1-2", protocol="udps", workbuf="1M", nbuf=4, mtu=9000,
                                     data_port=data_port, disks=disks, frame_bytes=FRAME))
        rec.record_on("in_docker")
        sent = send(data_port, frames=300)
        drained(rec, data_port)
        result = rec.record_off()
    assert (result.packets, result.lost) == (1200, 0)
    assert read_chunks(result.files).tobytes() == sent.frames.tobytes()
    assert "docker run --network host" in (tmp_path / "logs" / "recorder.log").read_text()


def test_jive5ab_binary_is_started_with_its_own_port(tmp_path):
    if not JIVE5AB_BIN:
        pytest.skip("JIVE5AB_BIN is not set: no jive5ab binary to test against")
    with open_recorder("jive5ab", log_dir=tmp_path, binary=JIVE5AB_BIN) as rec:
        assert rec.version().startswith("jive5ab 3.") and rec.pid is not None
    assert "-m 2 -p " in (tmp_path / "recorder.log").read_text()
