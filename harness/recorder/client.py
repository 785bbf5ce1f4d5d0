"""A VSI-S control connection: one ``send`` per line, read to ``\\n``, typed failures.

jive5ab parses each read() as one line (no line buffering), never answers an empty line and
can take many seconds over ``record=off``; this client sends each line in one call, never an
empty one, waits for the newline with a per-command timeout, and reconnects after a timeout
so that a late reply is never taken for the answer to the next command.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import TextIO

from harness.recorder.errors import ConnectionLost, ProtocolError, ReplyTimeout
from harness.recorder.vsis import MAX_LINE, Reply, ReplyShapeError, parse_replies

DEFAULT_TIMEOUT = 10.0
HUNG_TIMEOUT = 2.0
"""Once a request went unanswered, the longest any request waits until the recorder answers again: a hung
recorder (SIGSTOPped, deadlocked) must not hold the run for record=off's 180 s, scan after scan."""


class VsisClient:
    """A TCP connection to a VSI-S port (jive5ab or the reference recorder)."""

    def __init__(
        self, host: str, port: int, *, backend: str = "", timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 5.0, transcript: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.backend = backend
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.transcript: TextIO | None = None
        self.unanswered: tuple[str, float] | None = None
        """The request that last went unanswered and when (time.time()), until a reply comes again."""
        self._connect()
        if transcript is not None:
            self.transcript = transcript.open("a")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ConnectionLost(
                f"cannot connect to the VSI-S port {self.address}: {exc.strerror or exc}", backend=self.backend
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def exchange(self, line: str, timeout: float | None = None) -> list[Reply]:
        """Send one line (one or more commands) and parse the one reply line."""
        text = line.strip()
        if not text or not text.strip(";").strip():
            raise ValueError("jive5ab never answers an empty line; refusing to send one")
        if len(text) >= MAX_LINE:
            raise ValueError(f"a {len(text)}-byte line exceeds jive5ab's single {MAX_LINE}-byte read")
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            if self.unanswered is not None:
                wait = min(wait, HUNG_TIMEOUT)
            raw = self._roundtrip(text, wait)
        try:
            return parse_replies(raw)
        except ReplyShapeError:
            raise ProtocolError("reply is not VSI-S", backend=self.backend, command=text, reply=raw) from None

    def ask(self, command: str, timeout: float | None = None) -> Reply:
        """Send one command and return its single reply."""
        replies = self.exchange(command, timeout)
        if len(replies) != 1:
            raise ProtocolError(
                f"expected one reply, got {len(replies)}", backend=self.backend, command=command,
                reply=" ".join(r.raw for r in replies),
            )
        return replies[0]

    def _roundtrip(self, text: str, timeout: float) -> str:
        if self._sock is None:
            self._connect()
        sock = self._sock
        if sock is None:  # pragma: no cover - _connect raises instead
            raise ConnectionLost("no connection", backend=self.backend)
        started = time.monotonic()
        self._note(">", text)
        try:
            sock.settimeout(timeout)
            sock.sendall((text + "\n").encode())
            buffer = bytearray()
            while not buffer.endswith(b"\n"):
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    self._drop()
                    raise ConnectionLost(
                        f"{self.address} closed the control connection", backend=self.backend, command=text,
                        reply=buffer.decode(errors="replace") or None,
                    )
                buffer += chunk
        except TimeoutError:
            self._drop()  # a late reply must not answer the next command
            if self.unanswered is None:
                self.unanswered = (text, time.time())
            raise ReplyTimeout(
                f"no complete reply from {self.address} within {timeout:g} s", backend=self.backend, command=text,
                reply=buffer.decode(errors="replace") or None,
            ) from None
        except OSError as exc:
            self._drop()
            raise ConnectionLost(
                f"control connection to {self.address} failed: {exc.strerror or exc}", backend=self.backend,
                command=text,
            ) from None
        reply = buffer.decode(errors="replace").rstrip("\r\n")
        self.unanswered = None
        self._note("<", reply)
        return reply

    def _note(self, direction: str, text: str) -> None:
        if self.transcript is not None:
            self.transcript.write(f"{time.time():.3f} {direction} {text}\n")
            self.transcript.flush()

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self.transcript is not None:
                self.transcript.close()
                self.transcript = None

    def __enter__(self) -> VsisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
