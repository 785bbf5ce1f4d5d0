"""A stand-in VSI-S recorder for the lab tests: answers `version?` like jive5ab."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

VERSION_REPLY = b"!version?  0 : jive5ab : 3.1.0 : 64bit : Release : vlbi-lab-test ;\n"


@contextmanager
def vsi_responder(host: str = "127.0.0.1") -> Iterator[str]:
    """A VSI-S control port on host that answers every `version?` line; yields its host:port."""
    listener = socket.create_server((host, 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                while line := conn.recv(4096):
                    conn.sendall(VERSION_REPLY if line.startswith(b"version?") else b"!x? 7 : ENOSYS ;\n")
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"{host}:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def raising(exc: BaseException) -> Callable[[], str]:
    def version() -> str:
        raise exc
    return version
