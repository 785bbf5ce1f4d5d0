"""A blocking KATCP client: aiokatcp in an event loop of its own thread, every request with a timeout.

The harness's engine is threaded; the recorder interface is blocking. Each request is sent on the one
persistent connection and waited for with its own timeout; a late reply is dropped by aiokatcp (KATCP replies
carry the request's message id, so it never answers the next request). Every request and reply is written to
the control transcript, as the VSI-S client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiokatcp

from harness.recorder.errors import ConnectionLost, RecorderError

T = TypeVar("T")
BACKEND = "katcp"


class RequestFailed(RecorderError):
    """The proxy answered ``fail`` (or ``invalid``): the request and the reply are in the context."""


class RequestTimedOut(RecorderError):
    """No reply within the request's timeout."""


def request_line(name: str, args: tuple[object, ...]) -> str:
    return " ".join(["?" + name, *(str(a) for a in args)])


class KatcpLink:
    """One KATCP connection to a proxy (``host:port``)."""

    def __init__(self, host: str, port: int, *, transcript: Path | None = None, connect_timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"katcp-{host}:{port}", daemon=True)
        self._thread.start()
        self._transcript: TextIO | None = transcript.open("a") if transcript is not None else None
        self._lock = threading.Lock()
        try:
            self._client: aiokatcp.Client = self._run(
                aiokatcp.Client.connect(host, port, auto_reconnect=False), connect_timeout)
        except (OSError, TimeoutError) as exc:
            self._stop_loop()
            raise ConnectionLost(f"cannot connect to the KATCP port {self.address}: "
                                 f"{getattr(exc, 'strerror', None) or type(exc).__name__}", backend=BACKEND) from None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self._loop).result(timeout + 5)

    def _note(self, direction: str, text: str) -> None:
        if self._transcript is not None:
            with self._lock:
                self._transcript.write(f"{time.time():.3f} {direction} {text}\n")
                self._transcript.flush()

    def request(self, name: str, *args: object, timeout: float = 10.0) -> tuple[list[str], list[list[str]]]:
        """The reply's arguments after ``ok`` and the informs' arguments, as text; typed failures otherwise."""
        line = request_line(name, args)
        self._note(">", line)
        try:
            reply, informs = self._run(self._client.request(name, *args), timeout)
        except TimeoutError:
            self._note("<", f"(no reply within {timeout:g} s)")
            raise RequestTimedOut(f"no reply to {line} within {timeout:g} s", backend=BACKEND, command=line) from None
        except (aiokatcp.FailReply, aiokatcp.InvalidReply) as exc:
            kind = "fail" if isinstance(exc, aiokatcp.FailReply) else "invalid"
            answer = f"!{name} {kind} {exc}"
            self._note("<", answer)
            raise RequestFailed(f"{line} answered {kind}: {exc}", backend=BACKEND, command=line,
                                reply=answer) from None
        except (OSError, EOFError) as exc:  # ConnectionResetError and BrokenPipeError are OSErrors
            self._note("<", f"(connection lost: {exc})")
            raise ConnectionLost(f"KATCP connection to {self.address} lost during {line}: {exc}", backend=BACKEND,
                                 command=line) from None
        texts = [a.decode(errors="replace") for a in reply]
        inform_texts = [[a.decode(errors="replace") for a in m.arguments] for m in informs]
        self._note("<", " ".join([f"!{name} ok", *texts]) + (f" ({len(informs)} informs)" if informs else ""))
        return texts, inform_texts

    def sensor_values(self, timeout: float = 5.0) -> dict[str, tuple[str, str]]:
        """Every sensor: name -> (status, value), from one ``?sensor-value``."""
        _, informs = self.request("sensor-value", timeout=timeout)
        values = {}
        for args in informs:
            if len(args) >= 5:
                values[args[2]] = (args[3], args[4])
        return values

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            with contextlib.suppress(TimeoutError, OSError):
                self._run(client.wait_closed(), 5.0)
        self._stop_loop()
        if self._transcript is not None:
            self._transcript.close()
            self._transcript = None
