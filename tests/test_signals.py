"""A signal handler that must set an event whose lock its own thread holds (the main thread inside wait())."""

from __future__ import annotations

import threading

from harness.signals import off_the_signal


def test_an_event_whose_lock_the_interrupted_thread_holds_is_set_once_it_lets_go():
    event = threading.Event()
    with event._cond:  # as the main thread holds it on its way into or out of event.wait(): event.set() here hangs
        off_the_signal(event.set)
        assert not event.is_set()
    assert event.wait(5)
