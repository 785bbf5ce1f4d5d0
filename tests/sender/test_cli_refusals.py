"""Bad input is refused before anything is sent: one line, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import free_udp_port


@pytest.mark.parametrize(("args", "reason"), [
    (["--fps", "100", "--payload-bytes", "65504"], "needs an MTU of 65564, the route to 127.0.0.1 has"),
    (["--fps", "100", "--payload-bytes", "1001"], "not a positive multiple of 8"),
    (["--mode", "VDIF_8192-32000-1-2"], "not a whole number"),
    (["--fps", "100", "--threads", "1025"], "outside 1..1024"),
    (["--fps", "100", "--station", "XYZ"], "neither two ASCII characters"),
    (["--fps", "100", "--station", "70000"], "outside 0..65535"),
    (["--mode", "VDIF_8000-512-1-2", "--fps", "10"], "contradicts --mode"),
    ([], "give the rate"),
    (["--fps", "10", "--payload", "tone"], "needs --tone-freq"),
    (["--fps", "10", "--threads", "2", "--skip-thread", "2"], "--skip-thread 2: the stream's threads are 0..1"),
    (["--fps", "10", "--skip-thread", "0"], "--skip-thread would leave no thread to send"),
])
def test_refused_with_one_line(args, reason):
    result = subprocess.run([sys.executable, "-m", "harness.sender", "--dest", "127.0.0.1", "--port",
                             str(free_udp_port()), *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and "Traceback" not in result.stderr


def test_unresolvable_destination():
    result = subprocess.run([sys.executable, "-m", "harness.sender", "--dest", "no-such-host.invalid",
                             "--fps", "10"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "does not resolve" in result.stderr
