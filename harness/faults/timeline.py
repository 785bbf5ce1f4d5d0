"""One scan's faults in time: each applied at its offset from the scan's first frame, removed after its
duration, and always removed (at the scan's end, on Ctrl-C, after an error) before the scan is closed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.faults.injector import Injector, ScanContext
from harness.faults.kinds import INJECTORS, SENDER_SIDE, unavailable
from harness.faults.schema import Duplicate, FaultEntry, Reorder
from harness.faults.site import FaultError, FaultSite


@dataclass
class FaultRecord:
    """One fault as results.json keeps it."""

    kind: str
    scan: int
    scan_name: str
    at: float
    duration: float
    mechanism: str
    parameters: dict[str, Any]
    start: float | None = None
    end: float | None = None
    """POSIX times it was in force (None: never applied)."""
    injected: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None
    """Why an optional fault was not injected here (no mechanism on this machine)."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "scan": self.scan, "scan_name": self.scan_name, "at": self.at,
                "duration": self.duration, "start": self.start, "end": self.end, "mechanism": self.mechanism,
                "parameters": self.parameters, "injected": self.injected, "error": self.error,
                "skipped": self.skipped}


@dataclass
class _Planned:
    index: int
    fault: FaultEntry
    record: FaultRecord
    injector: Injector | None
    applied: bool = False
    removed: bool = False


class ScanFaults:
    """The faults of one scan on one recorder node."""

    def __init__(self, faults: list[tuple[int, FaultEntry]], scan_number: int, site: FaultSite,
                 context: ScanContext, scale: float) -> None:
        self.scale = scale
        self.site = site
        self.plan: list[_Planned] = []
        for index, fault in faults:
            if fault.scan != scan_number:
                continue
            record = FaultRecord(fault.kind, fault.scan, context.scan, fault.at * scale,
                                 0.0 if fault.instant else fault.duration * scale, "", fault.model_dump(
                                     mode="json", exclude={"kind", "scan", "at", "duration", "required"}))
            injector = None
            why = unavailable(fault.kind)
            if why is not None:  # an optional fault no mechanism here can inject (a required one was refused)
                record.mechanism = "none on this machine"
                record.skipped = why
            elif fault.kind in SENDER_SIDE:
                record.mechanism = "vdif-send --wire-fault (the sender puts it on the wire)"
            else:
                injector = INJECTORS[fault.kind](fault, site, context, index)
                record.mechanism = injector.mechanism
            self.plan.append(_Planned(index, fault, record, injector))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.plan)

    def sender_args(self) -> tuple[str, ...]:
        """The sender-side faults as vdif-send's --wire-fault values (offsets from its first frame)."""
        return tuple(f"{p.fault.kind}:{p.fault.every}:{p.record.at:.6f}:{p.record.duration:.6f}"
                     for p in self.plan if isinstance(p.fault, Duplicate | Reorder))

    def start(self, first_frame: Callable[[], float | None]) -> None:
        """Run the timeline in the background from the scan's first frame (``first_frame`` waits for it)."""
        if any(p.injector for p in self.plan):
            self._thread = threading.Thread(target=self._run, args=(first_frame,), name="faults", daemon=True)
            self._thread.start()

    def _run(self, first_frame: Callable[[], float | None]) -> None:
        t0 = first_frame()
        if t0 is None:
            return
        steps = sorted([(p.record.at, 0, n) for n, p in enumerate(self.plan) if p.injector] +
                       [(p.record.at + p.record.duration, 1, n) for n, p in enumerate(self.plan) if p.injector])
        for offset, removing, n in steps:
            if self._stop.wait(max(0.0, t0 + offset - time.time())):
                return
            if removing:
                self._remove(self.plan[n])
            else:
                self._apply(self.plan[n])

    def _apply(self, planned: _Planned) -> None:
        with self._lock:
            if self._stop.is_set() or planned.injector is None:
                return
            planned.applied = True
            try:
                planned.injector.apply()
            except FaultError as exc:
                planned.record.error = f"could not apply: {exc}"
            planned.record.start = time.time()  # in force from here (a fill or an unmount takes its time)

    def _remove(self, planned: _Planned) -> None:
        with self._lock:
            if not planned.applied or planned.removed or planned.injector is None:
                return
            planned.removed = True
            planned.record.end = time.time()
            try:
                planned.record.injected = planned.injector.remove()
            except FaultError as exc:
                planned.record.error = f"{planned.record.error + '; ' if planned.record.error else ''}" \
                                       f"could not remove: {exc}"

    def finish(self, sender_stats: dict[str, Any] | None, first_frame: float | None) -> list[FaultRecord]:
        """Stop the timeline, remove what is still in force, take the sender's own counts; the records."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for planned in self.plan:
            with contextlib.suppress(Exception):  # every fault is removed, whatever one removal raises
                self._remove(planned)
        for planned in self.plan:
            if planned.fault.kind in SENDER_SIDE and planned.record.skipped is None:  # the sender's own counts
                record = planned.record
                if first_frame is not None:
                    record.start, record.end = first_frame + record.at, first_frame + record.at + record.duration
                counted = "duplicated" if planned.fault.kind == "duplicate" else "reordered"
                stats = sender_stats or {}
                # late: the scan's datagrams below the highest sent before them, this fault's and any other's
                record.injected = {counted: int(stats.get(counted, 0)), "late_in_scan": int(stats.get("late", 0))}
                if sender_stats is None:
                    record.error = "the sender printed no statistics: what it put on the wire is unknown"
        return [p.record for p in self.plan]

    def after_close(self) -> list[FaultRecord]:
        """Once the recorder closed the scan: what only then can be undone; the records, final."""
        for planned in self.plan:
            if planned.injector is None or not planned.applied:
                continue
            try:
                planned.record.injected.update(planned.injector.after_close())
            except FaultError as exc:
                planned.record.error = f"{planned.record.error + '; ' if planned.record.error else ''}" \
                                       f"could not remove: {exc}"
        return [p.record for p in self.plan]
