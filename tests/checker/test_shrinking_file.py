"""A file truncated while the real checker process reads it: a finding, never a SIGBUS.

The checker maps files; a read of a mapped page past a file's new end kills the process with SIGBUS. It holds
a read lease on each file it maps (harness/checker/lease.py), so a truncation waits until the checker has seen
it between two windows, said so and let the file go.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness.formats.vdif.stream import FrameGenerator
from harness.sender.cli import build_parser, stream_from_args

FRAMES = 6000
PAYLOAD = 8000
ARGS = ["--dest", "127.0.0.1", "--port", "9", "--fps", "6000", "--threads", "4", "--payload-bytes", str(PAYLOAD)]


def write_recording(path: Path) -> None:
    """A flat recording of FRAMES frames per thread (about 190 MB: long enough to be caught in the middle of)."""
    spec = stream_from_args(build_parser().parse_args(ARGS))
    generator = FrameGenerator(spec, Fraction(1_800_000_000), 0)
    with path.open("wb") as out:
        for first in range(0, FRAMES, 2000):
            np.ascontiguousarray(generator.batch(first, 2000)).tofile(out)


def mapped(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` mapped now (/proc/<pid>/maps): from then on a shrink is a SIGBUS risk."""
    try:
        return str(path) in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_a_file_truncated_under_the_checker_is_a_finding_not_a_sigbus(tmp_path: Path) -> None:
    path = tmp_path / "scan.vdif"
    write_recording(path)
    frame = PAYLOAD + 32
    checker = subprocess.Popen([sys.executable, "-m", "harness.checker", "--json", "--payload", "pattern",
                                "--frame-bytes", str(frame), str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not mapped(checker.pid, path):
            assert checker.poll() is None, f"the checker ended before it mapped the file: {checker.stderr.read()}"
            assert time.monotonic() < deadline, "the checker never mapped the file"
            time.sleep(0.005)
        kept = FRAMES * frame  # a quarter of it
        os.truncate(path, kept)  # held back by the checker's lease until it lets the file go
        out, err = checker.communicate(timeout=120)
    finally:
        if checker.poll() is None:
            checker.kill()
            checker.wait()
    assert checker.returncode != -signal.SIGBUS, f"the checker died of SIGBUS: {err}"
    assert checker.returncode in (0, 1), err
    result = json.loads(out)
    shrank = [f for f in result["findings"] if f["kind"] == "file_shrank"]
    assert len(shrank) == 1 and shrank[0]["file"] == str(path), result["findings"]
    assert "truncated" in shrank[0]["detail"] or "shrank" in shrank[0]["detail"]
    assert result["counts"]["file_shrank"] == 1
    assert result["valid_frames"] <= FRAMES
