"""The same cases against both backends: real sender, real recorder process, real files.

The jive5ab cases run where JIVE5AB_BIN points to a jive5ab binary (and as root, for tmpfs mount
points: jive5ab never records onto the root filesystem); they are skipped with that reason otherwise.
Where the two differ on purpose the expectation says so (jive5ab's silent stop on a short datagram).
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from harness.recorder import (
    RecorderConfig,
    RecorderError,
    ScanNameRefused,
    VsisRecorder,
)
from harness.recorder.reference.sequence import fill_frame
from tests.recorder.conftest import IS_ROOT, drained, read_chunks, send

FRAME = 1032
MODE = "VDIF_1000-8-1-2"
BLOCK_FRAMES = (1 << 20) // FRAME  # -B 1M and workbuf 1M: 1016 frames per chunk


def configure(rec: VsisRecorder, disks: list[str] | str, port: int, protocol: str = "udps", **extra: object) -> None:
    options: dict[str, object] = {"mode": MODE, "protocol": protocol, "socket_buffer": "32M", "workbuf": "1M",
                                  "nbuf": 4, "mtu": 9000, "data_port": port, "disks": disks, "frame_bytes": FRAME}
    options.update(extra)
    rec.configure(RecorderConfig(**options))  # type: ignore[arg-type]


def chunk_layout(files: list[str], disks: list[str], scan: str) -> None:
    """``<mount>/<scan>/<scan>.NNNNNNNN`` numbered from 0, all but the last chunk of one size."""
    numbers = []
    for path in files:
        p = Path(path)
        assert str(p.parent.parent) in disks and p.parent.name == scan and p.name.startswith(f"{scan}.")
        numbers.append(int(p.name.rsplit(".", 1)[1]))
        assert len(p.name.rsplit(".", 1)[1]) == 8
    assert numbers == list(range(len(files)))
    sizes = [Path(f).stat().st_size for f in files]
    assert all(s == BLOCK_FRAMES * FRAME for s in sizes[:-1]) and 0 < sizes[-1] <= BLOCK_FRAMES * FRAME


def test_udps_scan_chunks_concatenate_to_the_frames_sent(recorder, disks, data_port):
    configure(recorder, disks, data_port)
    name = recorder.record_on("conf_udps")
    assert name == "conf_udps"
    sent = send(data_port, frames=500)
    drained(recorder, data_port)
    status = recorder.status()
    assert status.recording and status.scan == name and status.packets == 2000 and status.lost == 0
    result = recorder.record_off()
    assert not result.stopped_early and result.scan == name
    assert (result.packets, result.lost, result.out_of_order) == (2000, 0, 0)
    assert len(result.files) == 2 and {str(Path(f).parent.parent) for f in result.files} == set(disks)
    chunk_layout(result.files, disks, name)
    recorded = read_chunks(result.files)
    assert result.bytes == recorded.size == 2000 * FRAME
    np.testing.assert_array_equal(recorded.reshape(-1, FRAME), sent.frames)
    assert "evlbi?" in result.replies and "total : 2000" in result.replies["evlbi?"]


def test_udps_loss_is_counted_and_filled_as_jive5ab_does(recorder, disks, data_port):
    configure(recorder, disks, data_port)
    recorder.record_on("conf_loss")
    # 1996 datagrams, every 100th left out: 19 gaps, the last datagram sent (a lost tail is not counted)
    sent = send(data_port, frames=499, drop_every=100)
    drained(recorder, data_port)
    result = recorder.record_off()
    assert len(sent.dropped) == 19 and sent.stats["dropped_on_purpose"] == 19
    assert (result.packets, result.lost, result.out_of_order) == (1996 - 19, 19, 0)
    recorded = read_chunks(result.files).reshape(-1, FRAME)
    assert recorded.shape[0] == 1996
    invalid = np.flatnonzero(recorded[:, 3] >> 7)
    assert invalid.tolist() == sent.dropped
    np.testing.assert_array_equal(recorded[sent.dropped], np.broadcast_to(fill_frame(FRAME), (19, FRAME)))
    keep = np.setdiff1d(np.arange(1996), sent.dropped)
    np.testing.assert_array_equal(recorded[keep], sent.frames[keep])


def test_pudp_scan_keeps_every_frame(recorder, disks, data_port):
    configure(recorder, disks, data_port, protocol="pudp")
    recorder.record_on("conf_pudp")
    sent = send(data_port, frames=500, udps=False)
    drained(recorder, data_port)
    result = recorder.record_off()
    assert (result.packets, result.lost) == (2000, 0)
    chunk_layout(result.files, disks, "conf_pudp")
    np.testing.assert_array_equal(read_chunks(result.files).reshape(-1, FRAME), sent.frames)


def test_udpsnor_counts_loss_but_writes_no_fill(recorder, disks, data_port):
    configure(recorder, disks, data_port, protocol="udpsnor")
    recorder.record_on("conf_nor")
    sent = send(data_port, frames=499, drop_every=100)
    drained(recorder, data_port)
    result = recorder.record_off()
    assert (result.packets, result.lost, result.out_of_order) == (1977, 19, 0)
    np.testing.assert_array_equal(read_chunks(result.files).reshape(-1, FRAME), sent.delivered)


def test_net2file_writes_one_flat_file(recorder, disks, data_port):
    # a work buffer of one datagram: jive5ab's blocks are then one frame and its tail loss is nil
    configure(recorder, disks, data_port, protocol="pudp", workbuf=FRAME + 8, net2file=True)
    target = Path(disks[0]) / "flat.vdif"
    recorder.net2file_open(target)
    sent = send(data_port, frames=100, udps=False)
    drained(recorder, data_port)
    result = recorder.net2file_stop()
    assert not result.stopped_early and result.files == [str(target)]
    assert (result.packets, result.lost) == (400, 0)
    np.testing.assert_array_equal(np.fromfile(target, dtype=np.uint8).reshape(-1, FRAME), sent.frames)


def test_a_scan_name_in_use_gets_a_letter(recorder, disks, data_port):
    configure(recorder, disks, data_port)
    assert recorder.record_on("conf_dup") == "conf_dup"
    send(data_port, frames=50)
    drained(recorder, data_port)
    recorder.record_off()
    assert recorder.record_on("conf_dup") == "conf_dupa"
    sent = send(data_port, frames=50)
    drained(recorder, data_port)
    result = recorder.record_off()
    assert result.scan == "conf_dupa" and all("/conf_dupa/conf_dupa." in f for f in result.files)
    np.testing.assert_array_equal(read_chunks(result.files).reshape(-1, FRAME), sent.frames)


def test_unsafe_scan_names_are_refused_before_sending(recorder, disks, data_port):
    configure(recorder, disks, data_port)
    for name in ("../escape", "a/b", "x y", "", "scan;off"):
        with pytest.raises(ScanNameRefused):
            recorder.record_on(name)
    transcript = (recorder.log_dir / "recorder-control.log").read_text()
    assert "escape" not in transcript
    assert not recorder.status().recording


def test_datagram_size_guard_refuses_a_too_small_mtu(recorder, disks, data_port):
    # 8032-byte frames with MTU 1500: jive5ab would read 1004-byte pieces and cut every datagram
    recorder.configure(RecorderConfig(mode="VDIF_8000-64-1-2", protocol="udps", mtu=1500, data_port=data_port,
                                      disks=disks, workbuf="1M", nbuf=4, frame_bytes=8032))
    with pytest.raises(RecorderError) as refused:
        recorder.record_on("conf_mtu")
    assert "1004" in str(refused.value) or "MTU 1500" in str(refused.value)
    assert not recorder.status().recording
    configure(recorder, disks, data_port)  # and the recorder is usable again
    recorder.record_on("conf_after")
    assert recorder.record_off().packets == 0


def test_a_short_datagram_is_a_finding_not_a_crash(recorder, backend, disks, data_port):
    configure(recorder, disks, data_port)
    recorder.record_on("conf_short")
    first = send(data_port, frames=50)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # the next sequence number, 92 bytes of frame
        sock.sendto((200).to_bytes(8, "little") + b"\x00" * 92, ("127.0.0.1", data_port))
    drained(recorder, data_port)
    result = recorder.record_off()
    recorded = read_chunks(result.files).reshape(-1, FRAME)
    np.testing.assert_array_equal(recorded[:200], first.frames)
    if backend == "jive5ab":  # jive5ab's reader ends on a short datagram and says nothing
        assert result.stopped_early and any("already stopped" in n for n in result.notes)
    else:  # the reference drops it, keeps recording, and says so in error?
        assert not result.stopped_early and any("wrong size" in n for n in result.notes)


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT, reason="needs root to mount a small tmpfs that fills up")
def test_a_full_disk_is_dropped_and_its_chunk_rewritten_elsewhere(recorder, backend, make_disks, data_port):
    small, large = make_disks("3m", "64m")
    configure(recorder, [small, large], data_port)
    recorder.record_on("conf_full")
    sent = send(data_port, frames=2000, fps=2000)  # 8000 frames: 8 chunks of 1 MiB, 3 fit on the small disk
    drained(recorder, data_port)
    result = recorder.record_off()
    assert result.packets == 8000 and result.lost == 0
    np.testing.assert_array_equal(read_chunks(result.files).reshape(-1, FRAME), sent.frames)
    assert sum(1 for f in result.files if f.startswith(small + "/")) * BLOCK_FRAMES * FRAME <= 3 << 20
    if backend == "reference":
        assert any(small in n and "ENOSPC" in n for n in result.notes), result.notes
