"""The reference recorder's VSI-S port: many clients, one thread running every command (as jive5ab).

Unlike jive5ab it buffers input until a newline, so a command split over two TCP segments
still arrives whole; the reply ends in ``\\r\\n`` when the line did. A line with no command
gets no reply, exactly as from jive5ab, so that pipelining clients stay in step with both.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading

from harness.recorder.reference.commands import ReferenceRecorder

log = logging.getLogger("vdif-record")

MAX_PENDING = 1 << 16
"""Bytes without a newline after which a client is dropped (it is not speaking VSI-S)."""
MAX_CLIENTS = 64
"""Control connections at once; one more is closed at once (memory per client is bounded by MAX_PENDING)."""
SEND_TIMEOUT_S = 2.0
"""A client that does not read its replies for this long is dropped: one thread serves them all."""


class VsisServer:
    """Listens on ``host:port`` (port 0: any free port, see `address`) until `stop` is set."""

    def __init__(self, recorder: ReferenceRecorder, host: str = "127.0.0.1", port: int = 2620) -> None:
        self.recorder = recorder
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
        except OSError:
            self.listener.close()
            raise
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self._pending: dict[socket.socket, bytearray] = {}

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    def serve(self) -> None:
        """Answer commands until `stop`; then end any transfer (writing out what it holds) and close."""
        try:
            while not self.stop.is_set():
                for key, _ in self.selector.select(timeout=0.25):
                    if key.fileobj is self.listener:
                        self._accept()
                    else:
                        conn = key.fileobj
                        if isinstance(conn, socket.socket):
                            self._read(conn)
                self.recorder.poll()
        finally:
            self.recorder.shutdown()
            self.close()

    def _accept(self) -> None:
        try:
            conn, peer = self.listener.accept()
        except BlockingIOError:
            return
        if len(self._pending) >= MAX_CLIENTS:
            log.warning("refusing a control client from %s:%d: %d already connected", *peer[:2], MAX_CLIENTS)
            conn.close()
            return
        conn.settimeout(SEND_TIMEOUT_S)  # recv only when the selector says so; sendall gives up on a stuck client
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending[conn] = bytearray()
        self.selector.register(conn, selectors.EVENT_READ)
        log.info("control connection from %s:%d", *peer[:2])

    def _drop(self, conn: socket.socket) -> None:
        self.selector.unregister(conn)
        self._pending.pop(conn, None)
        conn.close()

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        buffer = self._pending[conn]
        buffer += data
        while (end := buffer.find(b"\n")) >= 0:
            raw = bytes(buffer[:end])
            del buffer[: end + 1]
            crlf = raw.endswith(b"\r")
            line = raw.decode("utf-8", errors="replace")
            reply = self.recorder.execute(line)
            if reply is None:
                continue
            log.debug("%r -> %r", line, reply)
            try:
                conn.sendall((reply + ("\r\n" if crlf else "\n")).encode())
            except OSError:  # gone, or not reading its replies (timeout): never let it stall the others
                log.warning("dropping a control client that does not take its replies")
                self._drop(conn)
                return
        if len(buffer) > MAX_PENDING:
            log.warning("dropping a control client: %d bytes without a newline", len(buffer))
            self._drop(conn)

    def close(self) -> None:
        for conn in list(self._pending):
            self._drop(conn)
        self.selector.unregister(self.listener)
        self.listener.close()
        self.selector.close()
