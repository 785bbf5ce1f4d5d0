"""``vdif-send --processes N``: the stream's threads shared out over N sender processes, one core each, that keep
one schedule and one sequence-number space.

Every process runs the whole schedule (the same first frame time, the same frames) and sends only its own
threads (round robin: thread ids i, i+N, ...): the others' rows keep their places and their sequence numbers,
exactly as ``--skip-thread`` leaves a thread out. So the datagram that carries frame k of thread t has the same
sequence number whichever process sends it, and the N processes together put the same datagrams on the wire as
one would. Only their order within a burst (2 ms) differs: the processes send side by side, so a UDPS reader sees
some datagrams below the highest sequence number already seen (out of order, none lost).

Each process has its own socket; their counts meet in a shared array (the parent's progress lines) and their
final statistics are merged: counts summed, the worst second and the lateness the worst of any process (each
judged against its own share of the rate).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import psutil

from harness.formats.vdif.stream import StreamSpec
from harness.sender.pacing import PacingMeter
from harness.sender.run import Sender, SenderStats
from harness.sender.transport import UdpTransport
from harness.signals import off_the_signal


def shares(threads: tuple[int, ...], processes: int) -> list[tuple[int, ...]]:
    """Each process's threads, round robin (so that each has as even a share of the rate as can be)."""
    return [threads[k::processes] for k in range(processes)]


def run_split(spec: StreamSpec, start: Fraction, processes: int, make_transport: Callable[[], UdpTransport], *,
              frames: int | None, first_sequence: int, drop_every: int, skip_threads: tuple[int, ...],
              progress: float) -> SenderStats:
    """Send ``spec`` from ``start`` with ``processes`` processes; their statistics merged as one sender's."""
    context = multiprocessing.get_context("fork")
    counts = context.Array("q", len(spec.threads), lock=False)
    results = context.SimpleQueue()
    children = []
    for own in shares(spec.threads, processes):
        others = tuple(t for t in spec.threads if t not in own)
        child = context.Process(target=_child, args=(spec, start, make_transport, frames, first_sequence, drop_every,
                                                     tuple(sorted({*skip_threads, *others})), own, counts, results),
                                daemon=True)
        child.start()
        children.append(child)
    if progress:  # as one sender says it: the first frame's time, before any is sent
        print(json.dumps({"start": float(start), "pid": os.getpid(), "processes": [c.pid for c in children]}),
              file=sys.stderr, flush=True)

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    collected: list[dict[str, Any]] = []
    next_progress = time.time() + progress if progress else float("inf")
    while len(collected) < len(children):
        if not results.empty():
            collected.append(results.get())
            continue
        if all(not c.is_alive() for c in children) and results.empty():
            break
        now = time.time()
        if now >= next_progress:
            next_progress = now + progress
            _report_progress(spec, counts, children, now)
        time.sleep(0.01)
    for child in children:
        child.join(timeout=10)
    if len(collected) < len(children):
        died = [f"{c.pid} (exit {c.exitcode})" for c in children if c.exitcode not in (0, None)]
        raise RuntimeError(f"sender processes ended without their statistics: {', '.join(died) or 'unknown'}")
    return merge(spec, collected, start, first_sequence, skip_threads, processes)


def _child(spec: StreamSpec, start: Fraction, make_transport: Callable[[], UdpTransport], frames: int | None,
           first_sequence: int, drop_every: int, skip: tuple[int, ...], own: tuple[int, ...], counts: Any,
           results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (SIGTERM), once
    transport = make_transport()
    sender = Sender(spec, transport, start, frames=frames, first_sequence=first_sequence, drop_every=drop_every,
                    skip_threads=skip)
    signal.signal(signal.SIGTERM, lambda *_: off_the_signal(sender.stop.set))
    rows = [spec.threads.index(t) for t in own]
    sender.on_batch = lambda sent: _publish(counts, rows, sent)
    try:
        stats = sender.run()
    finally:
        transport.close()
    document = stats.to_json()
    document["own_threads"] = list(own)
    document["frames_due"] = stats.frames_due
    document["end_posix"] = stats.end
    document["pacing"] = None if stats.pacing is None else {
        "worst_error": stats.pacing.worst_error, "seconds_judged": stats.pacing.seconds_judged,
        "max_lateness": stats.pacing.max_lateness, "target": stats.pacing.target_per_second}
    results.put(document)


def _publish(counts: Any, rows: list[int], sent: np.ndarray) -> None:
    for row in rows:
        counts[row] = int(sent[row])


def _report_progress(spec: StreamSpec, counts: Any, children: list[Any], now: float) -> None:
    frames = int(sum(counts))
    cpu = rss = 0.0
    for child in children:
        try:
            process = psutil.Process(child.pid)
            times = process.cpu_times()
            cpu += times.user + times.system
            rss += process.memory_info().rss
        except psutil.Error:
            continue
    print(json.dumps({"t": round(now, 3), "frames_sent": frames, "bytes_sent": frames * spec.datagram_bytes,
                      "cpu_s": round(cpu, 3), "rss_bytes": int(rss), "processes": len(children)}),
          file=sys.stderr, flush=True)


def merge(spec: StreamSpec, documents: list[dict[str, Any]], start: Fraction, first_sequence: int,
          skip_threads: tuple[int, ...], processes: int) -> SenderStats:
    """One sender's statistics from the processes': each thread's count from the process that owns it."""
    threads = dict.fromkeys(spec.threads, 0)
    for document in documents:
        for thread in document["own_threads"]:
            threads[thread] = int(document["threads"][str(thread)]["frames"])
    errors: Counter[str] = Counter()
    for document in documents:
        errors.update(document["send_errors"])
    frames_due = max(int(d["frames_due"]) for d in documents)
    pacings = [d["pacing"] for d in documents if d["pacing"] is not None]
    sending = len(spec.threads) - len(skip_threads)
    pacing = PacingMeter(spec.fps * sending, first_second=int(start))
    if pacings:
        pacing.worst_error = max(p["worst_error"] for p in pacings)
        pacing.seconds_judged = min(p["seconds_judged"] for p in pacings)
        pacing.max_lateness = max(p["max_lateness"] for p in pacings)
    stats = SenderStats(threads=threads, frame_bytes=spec.frame_bytes, datagram_bytes=spec.datagram_bytes,
                        fps=spec.fps, start=float(start), first_sequence=first_sequence,
                        end=max(float(d["end_posix"]) for d in documents), frames_due=frames_due,
                        dropped_on_purpose=sum(int(d["dropped_on_purpose"]) for d in documents),
                        skipped_threads=tuple(sorted(skip_threads)), frames_skipped=frames_due * len(skip_threads),
                        failed=sum(int(d["send_failed"]) for d in documents),
                        interrupted=any(d["interrupted"] for d in documents), pacing=pacing,
                        transport={**documents[0]["transport"], "processes": processes}, errors=dict(errors))
    return stats
