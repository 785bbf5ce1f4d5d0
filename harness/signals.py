"""Signal handlers that take no lock themselves.

Python runs a handler in the main thread between two bytecodes, possibly while that thread holds a lock the
handler would take: an ``Event.set()`` while the main thread is inside the same event's ``wait()`` (it holds the
event's lock on the way in and out), a log line while it holds the logging handler's lock. The handler then waits
for itself forever. So a handler only starts a thread, and the thread does the work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def off_the_signal(action: Callable[[], object]) -> None:
    """Run ``action`` in a thread of its own, from a signal handler."""
    threading.Thread(target=action, name="signal", daemon=True).start()
