"""A reference recorder configured for a small stream, and KATCP proxies in front of it: ours, the public
katsdpvlbi proxy (where ``KATSDPVLBI_PROXY`` names its script) and the misbehaving test double."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.katcp.link import KatcpLink
from harness.recorder import RecorderConfig, VsisRecorder, open_recorder
from harness.recorder.backends import parse_control
from harness.recorder.processes import free_tcp_port, wait_for_port
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parents[2]
KATSDPVLBI = os.environ.get("KATSDPVLBI_PROXY")
MODE, FPS, PAYLOAD, THREADS, FRAME = "VDIF_1000-8-1-2", 1000, 1000, 4, 1032

PROXIES = [
    pytest.param("ours", id="vdif-katcp-proxy"),
    pytest.param("katsdpvlbi", id="katsdpvlbi", marks=pytest.mark.skipif(
        not KATSDPVLBI, reason="KATSDPVLBI_PROXY is not set: no katsdpvlbi proxy script (richarms/katsdpvlbi "
                               "scripts/jive5ab_katcp_proxy.py, run by hand) to test against")),
]


@dataclass
class Proxy:
    """A running proxy in front of the test's recorder."""

    kind: str
    process: subprocess.Popen[bytes]
    control: str
    root: Path
    log: Path

    def link(self) -> KatcpLink:
        host, port = parse_control(self.control)
        return KatcpLink(host, port)

    def katcpcmd(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """katcpcli's katcpcmd, as an engineer would type it."""
        return subprocess.run([str(Path(sys.executable).parent / "katcpcmd"), self.control, *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def product_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def recorder(tmp_path: Path, product_root: Path) -> Iterator[VsisRecorder]:
    with open_recorder("reference", log_dir=tmp_path / "logs", mounts=[str(product_root)]) as rec:
        rec.configure(RecorderConfig(mode=MODE, protocol="udps", mtu=9000, data_port=free_udp_port(),
                                     data_address="127.0.0.1", disks=[str(product_root)], workbuf="1M",
                                     frame_bytes=FRAME))
        yield rec


def _listening(log: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on ([\d.]+:\d+)", log.read_text(errors="replace"))
        if match:
            return match[1]
        if process.poll() is not None:
            raise AssertionError(f"the proxy ended before it listened: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("the proxy did not say where it listens")


def start_proxy(kind: str, recorder: VsisRecorder, root: Path, log_dir: Path, defects: str = "") -> Proxy:
    log = log_dir / f"proxy-{kind}-{time.monotonic_ns()}.log"
    env = dict(os.environ)
    if kind == "katsdpvlbi":
        port = free_tcp_port()
        argv = [sys.executable, str(KATSDPVLBI), "--katcp-host", "127.0.0.1", "--katcp-port", str(port),
                "--jive-port", recorder.control_address.rsplit(":", 1)[1]]
        env["DISK_PATHS"] = str(root)
    else:
        module = "tests.katcp.misbehaving_proxy" if kind == "misbehaving" else "harness.katcp"
        argv = [sys.executable, "-m", module, "--recorder", recorder.control_address, "--product-root", str(root),
                "--port", "0", "--min-free", "1M", "--poll", "0.2"]
        if kind == "misbehaving":
            argv += ["--defects", defects]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    try:
        if kind == "katsdpvlbi":
            wait_for_port("127.0.0.1", port, 30)
            control = f"127.0.0.1:{port}"
        else:
            control = _listening(log, process)
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    return Proxy(kind, process, control, root, log)


def stop(proxy: Proxy) -> None:
    proxy.process.terminate()
    try:
        proxy.process.wait(15)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait(10)


@pytest.fixture
def proxy_factory(recorder: VsisRecorder, product_root: Path, tmp_path: Path) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def make(kind: str, defects: str = "") -> Proxy:
        started.append(start_proxy(kind, recorder, product_root, tmp_path, defects))
        return started[-1]

    yield make
    for proxy in started:
        stop(proxy)


@pytest.fixture(params=PROXIES)
def proxy(request: pytest.FixtureRequest, proxy_factory: Callable[..., Proxy]) -> Proxy:
    return proxy_factory(str(request.param))
