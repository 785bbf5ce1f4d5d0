"""Keeping a mapped file from shrinking while the checker reads it: a read lease, and a size check (Linux).

Reading a page of a mapping past a file's new end raises SIGBUS, which kills the checker's process. A read
lease (fcntl(2) F_SETLEASE F_RDLCK) makes the kernel hold back anyone who truncates the file or opens it for
writing for up to /proc/sys/fs/lease-break-time seconds (45 by default) and tell the holder; the checker
looks between windows, and on a break stops reading that file, says so, and lets the lease go. The break is
announced with SIGWINCH (F_SETSIG), whose default action is to ignore it: the default SIGIO would kill the
process. A lease cannot be had on a file someone still has open for writing, nor by a user who neither owns
the file nor has CAP_LEASE; then only the size is checked between windows, and a truncation in the instant
between that check and the next read is not caught.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal

BREAK_SIGNAL = signal.SIGWINCH
"""Delivered on a lease break instead of SIGIO; ignored by default, so a break never kills the checker."""


class ReadLease:
    """A read lease on one file, or only its descriptor where the kernel refused the lease."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.held = False
        try:
            fcntl.fcntl(self.fd, fcntl.F_SETSIG, BREAK_SIGNAL)
            fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
            self.held = True
        except OSError:  # EAGAIN: open for writing somewhere; EACCES: not ours; EINVAL: filesystem without leases
            self.held = False

    def breaking(self) -> bool:
        """Someone is truncating the file or opening it for writing (and is held back until release)."""
        if not self.held:
            return False
        try:
            return fcntl.fcntl(self.fd, fcntl.F_GETLEASE) != fcntl.F_RDLCK
        except OSError:
            return True

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def release(self) -> None:
        """Let the lease go (a truncation held back proceeds) and close the descriptor."""
        if self.fd < 0:
            return
        if self.held:
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
            self.held = False
        os.close(self.fd)
        self.fd = -1
