"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from tests.leftovers import SESSION_MARK, Snapshot, settled_left_over, stop_processes


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SO_RCVBUFFORCE = 33  # Linux: a buffer above net.core.rmem_max, for root
SO_TIMESTAMPNS = 35  # Linux: the kernel's receive time of each datagram, as ancillary data


@pytest.fixture
def udp_receiver() -> Iterator[socket.socket]:
    """A plain UDP socket on loopback with a 64 MiB receive buffer (forced past rmem_max as root, so that a
    test's datagrams all fit even while the receiving test is not scheduled) and kernel receive times."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(30.0)  # the first datagram waits for the sender to start, however busy the machine
    yield sock
    sock.close()


# The session guard: the suite leaves the machine as it found it, pass or fail. Only the process that runs the
# tests takes the snapshots (an xdist controller, or plain pytest), so workers do not race each other.
_BEFORE = pytest.StashKey[Snapshot]()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        mark = os.environ.setdefault(SESSION_MARK, f"{os.getpid()}-{time.time_ns()}")  # inherited by children
        session.config.stash[_BEFORE] = Snapshot.take(mark)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    left = settled_left_over(before)
    if not left:
        return
    stopped = stop_processes(left)
    report = ["the suite left these on the machine:", *(f"  {entry}" for entry in left)]
    if stopped:
        report.append(f"  (its {len(stopped)} process(es) killed; the rest: python -m harness.lab down, or by hand)")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "leftovers", red=True)
        reporter.write_line("\n".join(report))
    else:
        sys.stderr.write("\n".join(report) + "\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
