"""Fixtures for the recorder tests: backends by name, mount points, a paced sender whose frames we know."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from harness.recorder import VsisRecorder, open_recorder
from harness.sender.cli import build_parser, stream_from_args
from tests.conftest import free_udp_port
from tests.waiting import settle, wait_until

JIVE5AB_BIN = os.environ.get("JIVE5AB_BIN")
IS_ROOT = os.geteuid() == 0
DATA = Path(__file__).resolve().parent.parent / "data" / "jive5ab"

BACKENDS = [
    pytest.param("reference", id="reference"),
    pytest.param("jive5ab", id="jive5ab", marks=[
        pytest.mark.jive5ab,
        pytest.mark.skipif(not JIVE5AB_BIN, reason="JIVE5AB_BIN is not set: no jive5ab binary to test against"),
        pytest.mark.skipif(not IS_ROOT, reason="jive5ab records only onto real mounts: needs root for tmpfs mounts"),
    ]),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, timeout=30)


def unmount(path: Path) -> None:
    """Unmount, waiting a little for a recorder that still holds the disk; lazily as a last resort (no leak)."""
    for _ in range(20):
        if subprocess.run(["umount", str(path)], check=False, timeout=60, capture_output=True).returncode == 0:
            return
        time.sleep(0.25)
    subprocess.run(["umount", "-l", str(path)], check=False, timeout=60)


@pytest.fixture
def make_disks(tmp_path: Path) -> Iterator[object]:
    """``make_disks(sizes)``: one mount point per size (tmpfs when root, else a plain directory)."""
    made: list[Path] = []

    def make(*sizes: str) -> list[str]:
        paths = []
        for size in sizes:
            path = tmp_path / f"disk{len(made)}"
            if IS_ROOT:
                mount_tmpfs(path, size)
            else:
                path.mkdir()
            made.append(path)
            paths.append(str(path))
        return paths

    yield make
    if IS_ROOT:
        for path in made:
            unmount(path)


@pytest.fixture
def disks(make_disks) -> list[str]:  # type: ignore[no-untyped-def]
    return list(make_disks("64m", "64m"))


@pytest.fixture
def recorder(backend: str, tmp_path: Path, make_disks: object) -> Iterator[VsisRecorder]:
    """A recorder of that backend started for this test, with 1 MiB chunks (jive5ab ``-B 1M``).

    It depends on ``make_disks`` so that it is stopped before the disks are unmounted.
    """
    with open_recorder(backend, log_dir=tmp_path / "logs", binary=JIVE5AB_BIN, block_size="1M",
                       mounts=[str(tmp_path / "disk*")]) as rec:  # the reference may write only there
        yield rec


def plain_disks(root: Path, count: int = 2) -> list[Path]:
    """``count`` plain folders ``root/disk0..``, a recorder's mount points where no real disk is needed."""
    disks = [root / f"disk{n}" for n in range(count)]
    for disk in disks:
        disk.mkdir()
    return disks


@pytest.fixture
def data_port() -> int:
    return free_udp_port()


@dataclass
class Sent:
    """What one vdif-send run put on the wire: its datagrams (in order, dropped ones included) and statistics."""

    datagrams: npt.NDArray[np.uint8]
    stats: dict[str, object]
    prefix: int
    drop_every: int

    @property
    def frames(self) -> npt.NDArray[np.uint8]:
        """Every scheduled frame, without the sequence prefix."""
        return self.datagrams[:, self.prefix :]

    @property
    def dropped(self) -> list[int]:
        n = self.datagrams.shape[0]
        return [i for i in range(n) if self.drop_every and i % self.drop_every == self.drop_every - 1]

    @property
    def delivered(self) -> npt.NDArray[np.uint8]:
        keep = np.ones(self.datagrams.shape[0], dtype=bool)
        keep[self.dropped] = False
        return self.frames[keep]


def send(port: int, *, frames: int = 500, threads: int = 4, fps: int = 1000, payload: int = 1000, udps: bool = True,
         drop_every: int = 0, seq_start: int = 0, host: str = "127.0.0.1", bind: str | None = None,
         station: str | None = None, netns: str | None = None) -> Sent:
    """Run the real vdif-send (in network namespace ``netns`` if given) and rebuild the exact datagrams it
    scheduled from the same arguments."""
    # far enough ahead that a slow start (a busy machine) does not begin with a burst to catch up
    start = Fraction(math.ceil((time.time() + 1.0) * fps), fps)
    args = ["--dest", host, "--port", str(port), "--fps", str(fps), "--threads", str(threads), "--payload-bytes",
            str(payload), "--frames", str(frames), "--start-time", f"{start.numerator}/{start.denominator}",
            "--seq-start", str(seq_start), "--json"]
    if udps:
        args.append("--udps")
    if drop_every:
        args += ["--drop-every", str(drop_every)]
    if bind:
        args += ["--bind", bind]
    if station:
        args += ["--station", station]
    inside = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run([*inside, sys.executable, "-m", "harness.sender", *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"vdif-send failed: {done.stderr}")
    spec: StreamSpec = stream_from_args(build_parser().parse_args(args))
    datagrams = FrameGenerator(spec, start, seq_start).batch(0, frames).copy()
    return Sent(datagrams, json.loads(done.stdout), 8 if udps else 0, drop_every)


def udp_queued(port: int, pid: int | None = None) -> int:
    """Bytes waiting in the kernel's receive queues of the UDP sockets bound to ``port`` (/proc/net/udp), in this
    network namespace or in that of process ``pid``."""
    queued = 0
    base = "/proc/net" if pid is None else f"/proc/{pid}/net"
    for table in (f"{base}/udp", f"{base}/udp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    queued += int(fields[4].split(":")[1], 16)
    return queued


def drained(recorder: VsisRecorder, port: int, *, pid: int | None = None, timeout: float = 30.0) -> None:
    """Wait until the recorder has taken every datagram sent: the kernel holds none for its port (in the
    namespace of ``pid`` if given), and its packet count has stopped moving. A fixed pause fails on a busy
    machine."""
    settle(lambda: (udp_queued(port, pid), recorder.status().packets), timeout=timeout)
    wait_until(lambda: udp_queued(port, pid) == 0, timeout=timeout, what=f"the recorder to read port {port} empty")


def listening_address(process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The control address a recorder started by hand prints (``... listening on HOST:PORT``) on stderr."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "listening on" in line:
            return line.rsplit(" ", 1)[1].strip()
        if not line:
            raise AssertionError(f"the recorder ended before it listened (exit code {process.wait(10)})")
    raise AssertionError(f"the recorder did not say where it listens in {timeout:g} s")


def read_chunks(files: list[str]) -> npt.NDArray[np.uint8]:
    """The recording: chunk files concatenated in chunk order."""
    if not files:
        return np.zeros(0, dtype=np.uint8)
    return np.concatenate([np.fromfile(f, dtype=np.uint8) for f in files])
