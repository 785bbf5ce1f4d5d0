"""The reference recorder's VSI-S port under hostile input: random, oversized, binary, half-open, very slow and
greedy clients. It never crashes, never hangs another client, and keeps its memory bounded."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.recorder import VsisRecorder, open_recorder
from harness.recorder.backends import parse_control
from harness.recorder.reference.server import MAX_CLIENTS, MAX_PENDING
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VsisRecorder]:
    with open_recorder("reference", log_dir=tmp_path_factory.mktemp("fuzz") / "logs", block_size="1M") as rec:
        yield rec


def answers(rec: VsisRecorder, timeout: float = 5.0) -> bool:
    """A fresh client gets its reply to version? in time."""
    host, port = parse_control(rec.client.address)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(b"version?\n")
        return conn.recv(1024).startswith(b"!version?  0 : vdif-record")


def connect(rec: VsisRecorder) -> socket.socket:
    host, port = parse_control(rec.client.address)
    return socket.create_connection((host, port), timeout=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=4096) | st.text(max_size=200).map(str.encode), min_size=1, max_size=8))
def test_random_input_never_stops_it_answering(reference: VsisRecorder, chunks: list[bytes]) -> None:
    with connect(reference) as conn:
        for chunk in chunks:
            conn.sendall(chunk + b"\n")
        conn.shutdown(socket.SHUT_WR)  # half-closed: it may still reply; it must not wait on us
        conn.settimeout(2)
        try:
            while conn.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    assert reference.owner is not None and reference.owner.alive()
    assert answers(reference)


def test_oversized_slow_half_open_and_greedy_clients_do_not_hang_the_others(reference: VsisRecorder) -> None:
    process = psutil.Process(reference.pid)
    rss_before = process.memory_info().rss
    held = [connect(reference) for _ in range(MAX_CLIENTS + 10)]  # more than it keeps: the extra are closed
    try:
        for conn in held[:32]:
            conn.sendall(b"x" * (MAX_PENDING - 1))  # just under the limit each: kept, memory bounded
        slow = held[32]
        for byte in b"mode?":  # a very slow client, mid-command
            slow.sendall(bytes([byte]))
            time.sleep(0.01)
        greedy = held[33]
        greedy.sendall(b"version?\n" * 200_000)  # never reads its replies
        log = Path(reference.log_dir) / "recorder.log"
        wait_until(lambda: "does not take its replies" in log.read_text(), what="the greedy client to be dropped")
        assert answers(reference, timeout=10)  # while the slow, oversized and half-open ones are still there
        assert process.memory_info().rss - rss_before < 64 << 20
    finally:
        for conn in held:
            conn.close()
    assert reference.owner is not None and reference.owner.alive()
    assert "already connected" in log.read_text()
