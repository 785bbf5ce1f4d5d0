"""Every command line answers bad input (a missing path, an empty glob, a bad host, a bad number) with exit code 2
and one line that names what is wrong: never a traceback, never the usage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    (["harness.sender", "--dest", "nohost.invalid", "--port", "9", "--fps", "1", "--frames", "1"],
     "destination 'nohost.invalid' does not resolve"),
    (["harness.sender", "--dest", "127.0.0.1", "--port", "9", "--fps", "0"], "0 frames/s"),
    (["harness.sender", "--dest", "127.0.0.1", "--port", "nine"], "invalid int value: 'nine'"),
    (["harness.sender", "--dest", "127.0.0.1", "--port", "9", "--fps", "1", "--duration", "inf"],
     "a duration finite"),
    (["harness.recorder", "--port", "99999"], "99999 is not a port number"),
    (["harness.recorder", "--port", "0", "--disks", "/nonexistent/disk*"], "--disks /nonexistent/disk*: no such"),
    (["harness.recorder", "--port", "0", "-B", "lots"], "size 'lots' is not"),
    (["harness.checker", "/nonexistent/scan.vdif"], "/nonexistent/scan.vdif: cannot read"),
    (["harness.checker", "/etc"], "/etc is a folder"),  # (a folder alone: a LOFAR station's ports)
    (["harness.lab", "up", "--inventory", "/nonexistent/inventory.yml"], "no such inventory: /nonexistent/inventory"),
    (["harness.lab", "up", "--disks", "0"], "disks must be 1..64, not 0"),
    (["harness.report", "render", "/nonexistent/run"], "/nonexistent/run: not a folder"),
    (["harness.recorder.control", "127.0.0.1:1", "version?"], "cannot connect to the VSI-S port 127.0.0.1:1"),
    (["harness.recorder.control", "nohost.invalid:2620", "version?"], "nohost.invalid:2620"),
    (["bench.checker", "--dir", "/nonexistent"], "--dir: /nonexistent: no such folder"),
    (["bench.checker", "--gbytes", "0"], "--gbytes: 0 must be positive"),
    (["bench.sender", "--seconds", "-1"], "--seconds: -1 must be positive"),
    (["bench.recorder", "--disks", "zero"], "--disks: 'zero' is not a whole number"),
    (["harness.checker", "--jobs", "0", "--scan", "a", "--scan", "b", "--disks", "/tmp"], "'0' is not a number of"),
    (["harness.lab", "check", "--free", "ten"], "'ten' is not a size"),
    (["bench.sender", "--frame-bytes", "20"], "20 is not a frame size"),
    (["bench.recorder", "--socket-buffer", "lots"], "size 'lots' is not"),
    (["bench.recorder", "--disk-size", "lots"], "'lots' is not a disk size"),
    (["harness.katcp", "--recorder", "127.0.0.1:1", "--product-root", "/tmp"], "cannot connect to the VSI-S port"),
    (["harness.katcp", "--recorder", "nohost.invalid:2620", "--product-root", "/tmp"], "nohost.invalid:2620"),
    (["harness.katcp", "--recorder", "127.0.0.1:1", "--product-root", "/nonexistent"], "/nonexistent is not a dir"),
    (["harness.katcp", "--recorder", "127.0.0.1", "--product-root", "/tmp"], "'127.0.0.1' is not host:port"),
    (["harness.katcp", "--recorder", "127.0.0.1:1", "--product-root", "/tmp", "--port", "70000"],
     "70000 is not a port number"),
    (["harness.katcp", "--recorder", "127.0.0.1:1", "--product-root", "/tmp", "--poll", "0"], "outside 0.05..3600"),
    (["harness.katcp", "--recorder", "127.0.0.1:1", "--product-root", "/tmp", "--min-free", "lots"],
     "--min-free: a size such as 64M or 12G, not 'lots'"),
]


@pytest.mark.parametrize(("argv", "says"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_code_2(argv: list[str], says: str) -> None:
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          stdin=subprocess.DEVNULL, check=False)
    err = done.stderr.strip()
    assert "Traceback" not in err + done.stdout, err
    assert done.returncode == 2, (done.returncode, err)
    assert len(err.splitlines()) == 1 and says in err, err  # one line: what is wrong, never the usage too
