"""Typed failures of a recorder under test, each carrying its context.

A `RecorderError` means the recorder (jive5ab or the reference) did something wrong or
unexpected: a refused command, an unparseable reply, a process that died, a silent stop.
It says which backend, which command and which reply, so a test failure or a report finding
reads as one line. Bugs in the harness itself stay ordinary Python exceptions.
"""

from __future__ import annotations


class RecorderError(Exception):
    """The recorder under test failed; ``command`` and ``reply`` are the raw VSI-S text."""

    def __init__(
        self, message: str, *, backend: str = "", command: str | None = None, reply: str | None = None,
        log_tail: str | None = None,
    ) -> None:
        self.message = message
        self.backend = backend
        self.command = command
        self.reply = reply
        self.log_tail = log_tail
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.backend}: {self.message}" if self.backend else self.message]
        if self.command is not None:
            parts.append(f"command {self.command!r}")
        if self.reply is not None:
            parts.append(f"reply {self.reply!r}")
        text = "; ".join(parts)
        if self.log_tail:
            text += "\n--- recorder log (tail) ---\n" + self.log_tail
        return text


class ProtocolError(RecorderError):
    """A reply that does not have the VSI-S shape ``!keyword? code [: field]* ;``."""


class ReplyError(RecorderError):
    """A well-formed reply with a return code other than the ones the command allows."""

    def __init__(self, message: str, *, code: int, **context: str | None) -> None:
        self.code = code
        super().__init__(message, **context)  # type: ignore[arg-type]


class ConnectionLost(RecorderError):
    """The control connection closed, timed out or could not be made."""


class ReplyTimeout(ConnectionLost):
    """No complete reply within the request's timeout: the recorder may be hung (stopped, deadlocked)."""


class RecorderDied(RecorderError):
    """A recorder process or container the harness started is no longer running."""


class ConfigurationRefused(RecorderError):
    """The configuration would record wrong data (e.g. read size != datagram size); nothing was started."""


class ScanNameRefused(RecorderError):
    """A scan name the harness refuses before sending (jive5ab would write outside its disks)."""
