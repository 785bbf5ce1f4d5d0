"""The harness's vdif-send standing in for the CBF (``--stand-in-sender``): when it runs, where it sends, what
the preflight says of it, and the window of frames due when a real CBF or the stand-in sends (pure).

A scenario with ``stream.source: external`` declares the stream the CBF should send. Without the option the
harness sends nothing and records what arrives; with it, vdif-send sends exactly the declared stream (less any
``--stand-in-skip-thread``) to the multicast group if one is declared, else to the recorder's data address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.scenario.nodes import Nodes
from harness.scenario.outcome import ScanOutcome
from harness.scenario.schema import Scenario

if TYPE_CHECKING:
    from harness.scenario.setup import RunOptions


def stands_in(scenario: Scenario, options: RunOptions) -> bool:
    """The harness's sender stands in for the CBF of an external stream."""
    return scenario.stream.source == "external" and options.stand_in_sender


def harness_sends(scenario: Scenario, options: RunOptions) -> bool:
    return scenario.stream.source == "harness" or stands_in(scenario, options)


def skipped_threads(scenario: Scenario, options: RunOptions) -> tuple[int, ...]:
    """Threads the stand-in never sends (none for a harness stream: the option is the stand-in's)."""
    return tuple(sorted(set(options.stand_in_skip_threads))) if stands_in(scenario, options) else ()


def refusal(scenario: Scenario, options: RunOptions) -> str | None:
    """Why the stand-in options cannot apply to this scenario, or None."""
    skip = sorted(set(options.stand_in_skip_threads))
    if not skip or not stands_in(scenario, options):
        return None
    threads = scenario.stream.threads
    if any(not 0 <= t < threads for t in skip):
        return f"--stand-in-skip-thread {', '.join(map(str, skip))}: the stream's threads are 0..{threads - 1}"
    if len(skip) == threads:
        return "--stand-in-skip-thread: every thread of the stream skipped, the stand-in would send nothing"
    return None


def preflight_line(scenario: Scenario, options: RunOptions, nodes: Nodes) -> str | None:
    """What the stand-in sends, where, and what it leaves out (the preflight says it); None when it does not run."""
    if not stands_in(scenario, options):
        return None
    stream = scenario.stream
    where = f"{stream.destination or stream.multicast or nodes.recorder_ip}:{stream.port}"
    skip = skipped_threads(scenario, options)
    left_out = f"; thread{'s' if len(skip) > 1 else ''} {', '.join(map(str, skip))} never sent " \
               "(--stand-in-skip-thread)" if skip else ""
    return (f"vdif-send stands in for the CBF: {stream.threads} threads at {stream.frames_per_second} frames/s, "
            f"station {stream.station}, {stream.frame_bytes}-byte frames, EDV {stream.edv}, "
            f"{'udps' if stream.udps else 'no'} sequence numbers, {stream.payload} payload, to {where}{left_out}")


def capture_window(scenario: Scenario, outcome: ScanOutcome) -> dict[str, Any]:
    """Expectation fields for the window of frames due: an external stream's, from record=on to record=off;
    with the stand-in, only where it sent (its frames from its first to the end of its schedule). Harness
    streams get none: their frame count says what was lost."""
    started, stopped = outcome.capture_started, outcome.capture_stopped
    if scenario.stream.source != "external" or started is None or stopped is None:
        return {}
    sender = outcome.sender
    if outcome.stand_in and "first_frame_posix" in sender and "schedule_end_posix" in sender:
        started = max(started, float(sender["first_frame_posix"]))
        stopped = min(stopped, float(sender["schedule_end_posix"]))
    if stopped < started:
        return {}
    return {"window_start": started, "window_end": stopped,
            "window_tolerance_s": scenario.schedule.capture_tolerance}
