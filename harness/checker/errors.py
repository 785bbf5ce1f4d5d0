"""The one failure the checker raises: input it cannot read, or a request it cannot honour.

Faults *in* a recording are never exceptions: they are findings in the result. A `CheckerError`
means there is nothing to check (no such file, no chunks of that scan, not VDIF at all, a
contradictory expectation); it names the path and says why in one line.
"""

from __future__ import annotations


class CheckerError(Exception):
    """Unreadable input or bad usage; ``path`` is what could not be read (or ``None``)."""

    def __init__(self, path: str | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def __reduce__(self) -> tuple[type[CheckerError], tuple[str | None, str]]:
        # picklable with both arguments, so it crosses a ProcessPoolExecutor intact
        return (CheckerError, (self.path, self.reason))
