"""Waiting on a condition, never on a fixed sleep: what a test on a busy machine needs."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0, step: float = 0.05, what: str) -> None:
    """Return once ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def settle(measure: Callable[[], object], *, timeout: float = 30.0, step: float = 0.1, polls: int = 3) -> object:
    """The value of ``measure()`` once it has stayed the same for ``polls`` polls in a row (or at the timeout)."""
    deadline = time.monotonic() + timeout
    last, same = measure(), 1
    while same < polls and time.monotonic() < deadline:
        time.sleep(step)
        value = measure()
        same = same + 1 if value == last else 1
        last = value
    return last
