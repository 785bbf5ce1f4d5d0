"""Naming a hung recorder: a request it left unanswered, when, and whether it answered again (pure).

The metrics poll (``record? ; evlbi? ;``) waits at most one metrics period for its reply, so a recorder that
stops answering (SIGSTOP, a deadlock) is named by the poll after it stopped: within two periods. From then
on the control client waits at most HUNG_TIMEOUT for any reply (harness/recorder/client.py), so the scan is
closed, the next one tried and the recorder stopped without record=off's 180 s each time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from harness.recorder.errors import ReplyTimeout

MIN_POLL_TIMEOUT = 0.5
"""A status reply may take this long on a busy machine whatever the metrics period."""


def poll_timeout(metrics_period: float) -> float:
    """How long the metrics poll waits for the recorder's reply."""
    return max(MIN_POLL_TIMEOUT, metrics_period)


@dataclass
class Silence:
    """One stretch in which the recorder did not answer."""

    began: float
    request: str
    waited: float
    answered: float | None = None


class HungWatch:
    """The recorder's silences over a run, fed by whoever met a ReplyTimeout or a reply."""

    def __init__(self) -> None:
        self.silences: list[Silence] = []
        self._lock = threading.Lock()

    def no_reply(self, exc: ReplyTimeout, waited: float, now: float | None = None) -> None:
        """A request went unanswered for ``waited`` s (a silence begins, unless one is open)."""
        now = time.time() if now is None else now
        with self._lock:
            if self.silences and self.silences[-1].answered is None:
                return
            self.silences.append(Silence(now - waited, exc.command or "?", waited))

    def replied(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            if self.silences and self.silences[-1].answered is None:
                self.silences[-1].answered = now

    @property
    def hung(self) -> bool:
        with self._lock:
            return bool(self.silences) and self.silences[-1].answered is None

    def findings(self, scan: str, start: float, end: float) -> list[str]:
        """One line per silence that began between ``start`` and ``end`` (POSIX times of the scan)."""
        with self._lock:
            found = [s for s in self.silences if start <= s.began + s.waited <= end]
        lines = []
        for s in found:
            at = time.strftime("%H:%M:%SZ", time.gmtime(s.began + s.waited))
            then = (f"it answered again {s.answered - s.began:.1f} s after it fell silent" if s.answered is not None
                    else "it had not answered again when the scan was closed")
            lines.append(f"recorder hung during {scan}: no reply to {s.request!r} within {s.waited:g} s "
                         f"(named at {at}, {s.began + s.waited - start:.1f} s into the scan); {then}")
        return lines
