"""``vdif-katcp-proxy`` under hostile input: random, oversized, binary, half-open and very slow clients. It never
crashes, never hangs another client, keeps its memory bounded, and never makes anything outside its product
root whatever id it is given."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.recorder import RecorderConfig, open_recorder
from harness.recorder.backends import parse_control
from tests.conftest import free_udp_port
from tests.katcp.conftest import FRAME, MODE, Proxy, start_proxy, stop


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    base = tmp_path_factory.mktemp("katcp-fuzz")
    root = base / "data"
    root.mkdir()
    with open_recorder("reference", log_dir=base / "logs", mounts=[str(root)]) as rec:
        rec.configure(RecorderConfig(mode=MODE, protocol="udps", data_port=free_udp_port(), data_address="127.0.0.1",
                                     disks=[str(root)], workbuf="1M", frame_bytes=FRAME))
        running = start_proxy("ours", rec, root, base)
        try:
            yield running
        finally:
            stop(running)


def connect(proxy: Proxy) -> socket.socket:
    host, port = parse_control(proxy.control)
    return socket.create_connection((host, port), timeout=5)


def answers(proxy: Proxy, timeout: float = 2.0) -> bool:
    """A fresh client gets its ``?watchdog`` answered in time (after the server's #version-connect informs)."""
    with connect(proxy) as conn:
        conn.settimeout(timeout)
        conn.sendall(b"?watchdog\n")
        received = b""
        while b"!watchdog" not in received:
            chunk = conn.recv(4096)
            if not chunk:
                return False
            received += chunk
        return b"!watchdog ok" in received


def inside(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=2048) | st.text(max_size=200).map(str.encode), min_size=1, max_size=6))
def test_random_input_never_stops_it_answering(proxy: Proxy, chunks: list[bytes]) -> None:
    with connect(proxy) as conn:
        for chunk in chunks:
            conn.sendall(chunk + b"\n")
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        try:
            while conn.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    assert proxy.process.poll() is None
    assert answers(proxy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=80).filter(lambda t: "\n" not in t and "\r" not in t))
def test_no_capture_block_id_makes_anything_outside_the_product_root(proxy: Proxy, cbid: str) -> None:
    link = proxy.link()
    try:
        try:
            link.request("capture-init", cbid, timeout=30)
        except Exception:  # refused or malformed: either way nothing may appear outside the root
            pass
        else:
            link.request("capture-done", timeout=240)
    finally:
        link.close()
    beside = {p.name for p in proxy.root.parent.iterdir()} - {"data", "logs"}
    assert all(name.startswith("proxy-") for name in beside), beside  # the proxy's own log, nothing else
    for entry in inside(proxy.root):
        assert not entry.startswith("..")


def test_oversized_slow_and_half_open_clients_do_not_hang_the_others(proxy: Proxy) -> None:
    process = psutil.Process(proxy.process.pid)
    rss_before = process.memory_info().rss
    idle = [connect(proxy) for _ in range(20)]  # half-open: connected, silent
    greedy = connect(proxy)
    slow = connect(proxy)
    try:
        junk = b"?help " + b"x" * (1 << 20)
        for _ in range(12):  # 12 MiB in one line (under aiokatcp's default limit): discarded past ours, not buffered
            greedy.sendall(junk)
        greedy.sendall(b"\n?watchdog\n")
        greedy.settimeout(10)
        received = b""
        while b"!watchdog" not in received:
            chunk = greedy.recv(65536)
            assert chunk, "the proxy dropped the client instead of discarding its over-long line"
            received += chunk
        assert b"!watchdog ok" in received  # the same client, served again after its over-long line
        assert process.memory_info().rss - rss_before < 8 << 20
        for byte in b"?capture-sta":
            slow.sendall(bytes([byte]))
            assert answers(proxy, timeout=2.0)  # another client is served between the slow one's bytes
            time.sleep(0.02)
    finally:
        for conn in [*idle, greedy, slow]:
            conn.close()
    assert proxy.process.poll() is None and answers(proxy)



def test_a_client_that_never_reads_its_replies_hangs_no_one_and_memory_stays_bounded(proxy: Proxy) -> None:
    process = psutil.Process(proxy.process.pid)
    rss_before = process.memory_info().rss
    greedy = connect(proxy)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its replies pile up at the proxy, not here
    try:
        greedy.settimeout(0.5)
        requests = b"?watchdog\n" * 20_000
        sent = 0
        deadline = time.monotonic() + 20
        while sent < 100 * len(requests) and time.monotonic() < deadline:  # 2 million requests, none of it read
            try:
                sent += greedy.send(requests)
            except TimeoutError:  # the proxy stopped reading it: as it should, once its replies back up
                break
        assert sent < 100 * len(requests), "the proxy read 20 MB of requests whose replies no one took"
        assert answers(proxy, timeout=2.0)  # another client is served meanwhile
        assert process.memory_info().rss - rss_before < 32 << 20, "replies to a client that never reads pile up"
    finally:
        greedy.close()
    assert proxy.process.poll() is None and answers(proxy)
