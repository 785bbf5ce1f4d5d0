"""The heap's free pages given back to the system after each scan, so that the harness's RSS over a night shows
what it keeps (each scan's results), not what its allocator happens to hold.

The harness is one long process: every scan starts threads (recording, metrics, the checker's answers) whose
allocations glibc serves from per-thread arenas, and a freed block in the middle of an arena keeps its page
resident. ``malloc_trim(0)`` returns every wholly free page of every arena (glibc 2.8 or later); on a C library
without it this does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def give_back_free_pages() -> bool:
    """True when the C library could be asked to (whether or not it had anything to give back)."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
