"""The checker's worker process, one validation at a time, recreated when it dies.

A worker that dies (SIGKILL, out of memory, a SIGBUS) breaks a ProcessPoolExecutor for good: every later
submission would fail too. So validations are handed to the pool one at a time, in order; the one that was
running when the pool broke is the scan whose check died, and is said so; a new pool takes the next one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

CheckAnswer = dict[str, Any] | BaseException
"""The checker's JSON result (or ``{"error": ...}``), or the exception the validation raised (a harness bug)."""


@dataclass
class Validation:
    """One scan waiting for the checker, and whom to tell."""

    scan: str
    work: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]
    done: Callable[[CheckAnswer], None]


class CheckerPool:
    """Validations in one worker process, in the order submitted; a dead worker is replaced for the next."""

    def __init__(self, initializer: Callable[[], None] | None = None) -> None:
        self._initializer = initializer
        self._pool = self._new_pool()
        self._queue: deque[Validation] = deque()
        self._running: Validation | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0
        """How many times a dead worker was replaced."""

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=self._initializer)

    def submit(self, scan: str, work: Callable[..., dict[str, Any]], *args: Any,
               done: Callable[[CheckAnswer], None]) -> None:
        """Validate ``scan`` with ``work(*args)`` once those before it are done; ``done`` gets the answer."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the checker pool is closed: {scan} cannot be validated")
            self._queue.append(Validation(scan, work, args, done))
        self._next()

    def _next(self) -> None:
        with self._lock:
            if self._running is not None or not self._queue:
                return
            job = self._running = self._queue.popleft()
            try:
                future = self._pool.submit(job.work, *job.args)
            except BrokenProcessPool:  # broke between two validations: a new worker for this one
                self._replace()
                future = self._pool.submit(job.work, *job.args)
        future.add_done_callback(lambda f: self._ended(job, f))

    def _ended(self, job: Validation, future: Future[dict[str, Any]]) -> None:
        answer: CheckAnswer
        try:
            answer = future.result()
        except BrokenProcessPool as exc:
            with self._lock:
                self._replace()
            answer = {"error": f"the checker's process died while validating {job.scan} (killed, out of memory or "
                               f"a crash: {exc}); the scans after it are validated in a new process"}
        except BaseException as exc:  # a bug of the checker: the caller makes it a traceback on the scan
            answer = exc
        with self._lock:
            self._running = None
        try:
            job.done(answer)
        finally:
            self._next()

    def _replace(self) -> None:
        """A new worker process (called with the lock held)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self.replaced += 1

    def drop_pending(self) -> list[str]:
        """Forget the validations not yet begun (a second Ctrl-C); each is told so. Their scans, in order."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
        for job in dropped:
            job.done({"error": f"not validated: {job.scan}'s validation was dropped by a second Ctrl-C"})
        return [job.scan for job in dropped]

    def shutdown(self, cancel: bool = False) -> None:
        """Wait for every validation submitted (or drop those not begun), then stop the worker."""
        if cancel:
            self.drop_pending()
        while True:
            with self._lock:
                idle = self._running is None and not self._queue
                pool = self._pool
            if idle:
                break
            time.sleep(0.05)
        with self._lock:
            self._closed = True
        pool.shutdown(wait=True)
