"""What a real recorder says about a scan, kept with its words: wrong-size datagrams, a mount point unmounted
under it, a net2file output it removed. The same cases against jive5ab where JIVE5AB_BIN is set."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.recorder import VsisRecorder
from harness.recorder.placement import misplaced_chunks, mount_devices
from harness.recorder.reference.sinks import mount_of
from harness.scenario.outcome import ScanOutcome
from tests.recorder.conftest import IS_ROOT, drained, mount_tmpfs, read_chunks, send, unmount
from tests.recorder.test_conformance import FRAME, configure

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root to mount and unmount a tmpfs")


def kinds(result_said: list) -> list[str]:  # type: ignore[type-arg]
    return [n.kind for n in result_said]


def test_wrong_size_datagrams_are_a_note_in_the_recorders_words_that_fails_the_scan(recorder, backend, disks,
                                                                                   data_port):
    configure(recorder, disks, data_port)
    recorder.record_on("notes_short")
    send(data_port, frames=50)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto((200).to_bytes(8, "little") + b"\x00" * 92, ("127.0.0.1", data_port))
    drained(recorder, data_port)
    result = recorder.record_off()
    outcome = ScanOutcome(name="notes_short", started="")
    outcome.keep_recorder_notes(result.said, result.replies)
    if backend == "jive5ab":  # its reader ends on it, silently but for record? and its log
        assert "stopped_early" in kinds(result.said) and result.stopped_early
        assert any(n["source"] == "record?" for n in outcome.recorder_notes)
        assert any(n.source == "log" and n.kind == "wrong_size_datagrams" for n in result.said), result.said
    else:
        note = next(n for n in result.said if n.kind == "wrong_size_datagrams")
        assert note.source == "error?" and note.data_lost
        assert note.text == "vbsrecord notes_short: 1 datagrams of the wrong size dropped"
        assert outcome.problems == [f"recorder (error?): {note.text}"]
        assert "error?" in outcome.recorder_replies
    assert all(n["data_lost"] for n in outcome.recorder_notes)


def test_a_removed_net2file_output_says_what_the_recorder_had_received(recorder, backend, disks, data_port):
    """jive5ab 3.1.0 deletes a net2file output it wrote nothing to; the note must say what it counted, not only
    that the file cannot be read."""
    configure(recorder, disks, data_port, protocol="pudp", net2file=True)
    target = Path(disks[0]) / "empty.vdif"
    recorder.net2file_open(target)
    result = recorder.net2file_stop()
    assert not target.exists() and result.files == []
    removed = [n for n in result.said if n.kind == "file_removed" and n.source == "files"]
    assert len(removed) == 1 and removed[0].data_lost, result.said
    said = re.fullmatch(rf"{re.escape(str(target))} does not exist after net2file=stop: the recorder removed it or "
                        r"never wrote it; it counted (\d+) datagrams \((\d+) lost, evlbi\?\), net2file\? said "
                        r"'active : 0' before the stop", removed[0].text)
    assert said and (int(said[1]), int(said[2])) == (result.packets, result.lost), removed[0].text
    if backend == "reference":  # and it says so itself
        assert any(n.source == "error?" and "the empty file was removed" in n.text for n in result.said)


@pytest.mark.root
@needs_root
def test_a_mount_point_unmounted_under_the_recorder_never_silently_fills_the_root_filesystem(
        recorder: VsisRecorder, backend: str, make_disks, data_port: int) -> None:
    gone, kept = (Path(d) for d in make_disks("64m", "64m"))
    configure(recorder, [str(gone), str(kept)], data_port)
    recorder.record_on("notes_gone")
    first = send(data_port, frames=1000)  # 4000 frames: about four 1 MiB chunks over both disks
    drained(recorder, data_port)
    unmount(gone)  # lazily if the recorder holds a file there (jive5ab)
    try:
        second = send(data_port, frames=1000, seq_start=4000)
        drained(recorder, data_port)
        result = recorder.record_off()
        below = sorted(str(p) for p in gone.rglob("notes_gone.*"))  # on the root filesystem now
        if backend == "reference":  # it refuses to write there, says so, and rewrites the chunk on the other disk
            assert below == []
            dropped = [n for n in result.said if n.kind == "mount_point_gone"]
            assert len(dropped) == 1 and dropped[0].source == "error?" and str(gone) in dropped[0].text
            assert "ENODEV" in dropped[0].text and "no longer mounted" in dropped[0].text
        misplaced = [n for n in result.said if n.kind == "mount_point_gone" and n.source == "files"]
        assert sorted(n.text.split(" ", 1)[0] for n in misplaced) == below  # each chunk down there is named
        recorded = read_chunks([f for f in result.files if f not in below]).reshape(-1, FRAME)
        if backend == "reference":
            assert result.lost == 0
            np.testing.assert_array_equal(recorded, np.concatenate([first.frames, second.frames]))
    finally:
        for path in gone.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        mount_tmpfs(gone, "64m")  # for the fixture's unmount


@pytest.mark.root
@needs_root
def test_a_chunk_found_below_an_unmounted_mount_point_is_named(tmp_path: Path) -> None:
    disk = tmp_path / "disk0"
    mount_tmpfs(disk, "1m")
    devices = mount_devices([str(disk)])
    subprocess.run(["umount", str(disk)], check=True, timeout=60)
    chunk = disk / "scan" / "scan.00000000"
    chunk.parent.mkdir()
    chunk.write_bytes(b"\0" * 64)
    assert misplaced_chunks([str(chunk)], devices) == [
        f"{chunk} is not on its mount point {disk}'s filesystem but on {mount_of(str(chunk))}'s: {disk} is no "
        "longer mounted and the recorder wrote below it"]
    mount_tmpfs(disk, "1m")  # mounted again: the chunk below is hidden, and the mount point is fine again
    assert misplaced_chunks([str(disk / "scan" / "none")], devices) == []
    subprocess.run(["umount", str(disk)], check=True, timeout=60)
