"""The run engine: one scenario run, from provisioning to the verdict.

The scans run in a background thread, one after another; each finished scan is validated in a worker
process while the next one records. The pytest items only wait for what they report (preflight, one
scan, the thresholds), so a slow validation never delays the recording schedule.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.faults.accounting import judge_faults
from harness.katcp.judge import CountClaims, judge_counts
from harness.lab.errors import LabError
from harness.scenario import run_lock, stand_in
from harness.scenario.checker_pool import CheckAnswer, CheckerPool
from harness.scenario.errors import SYSTEM_FAULTS
from harness.scenario.heap import give_back_free_pages
from harness.scenario.node_metrics import NodeProbe
from harness.scenario.nodes import NodePair
from harness.scenario.outcome import ScanOutcome
from harness.scenario.recording import ScanRecorder
from harness.scenario.run_dir import RunDirectory, utc_now
from harness.scenario.schema import Scenario
from harness.scenario.self_report import judge_self_report
from harness.scenario.setup import Check, Preflight, RunOptions, bring_up, one_line, tear_down
from harness.scenario.stream_format import judges_schedule
from harness.scenario.thresholds import ThresholdResult, evaluate, scan_breaches
from harness.scenario.validation import HarnessBugOnNode, ScanTarget, expectation_fields, sender_schedule, validate


def ignore_terminal_signals() -> None:
    """In the checker's worker: Ctrl-C reaches the whole process group, but the run itself decides
    when to stop; the worker finishes validating the scan it has."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Put back SIGINT/SIGTERM handlers after provisioning: ansible-runner installs its own (which only
    set a flag for its own run) and leaves them, so Ctrl-C would no longer stop a scenario run."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                with contextlib.suppress(ValueError):  # not the main thread
                    signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred(on_signal: Callable[[int], None]) -> Iterator[None]:
    """While a run stops: Ctrl-C and SIGTERM call ``on_signal(presses)`` instead of raising, so a second or third
    press cannot cut the teardown short and leave the recorder, the sender or the lab behind."""
    presses = 0

    def deferred(signum: int, frame: object) -> None:
        nonlocal presses
        presses += 1
        on_signal(presses)

    with keep_signal_handlers():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: nothing to defer there
                signal.signal(sig, deferred)
        yield


def versions(recorder: str | None) -> dict[str, str | None]:
    """Versions of everything involved, for the report and the acceptance sign-off."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"harness": __version__, "python": platform.python_version(),
                                    "kernel": platform.release(), "recorder": recorder}
    for package in ("numpy", "baseband", "pydantic", "ansible-core", "ansible-runner", "pytest-testinfra"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


@dataclass
class ScanSlot:
    """A scheduled scan: its outcomes (one per recorder node) once recorded and validated, and an event for
    whoever waits."""

    name: str
    outcomes: list[ScanOutcome] = field(default_factory=list)
    expected: int = 1
    """Recorder nodes recording this scan at once."""
    skipped: str | None = None
    error: Exception | None = None
    """A bug of the harness met while recording this scan (re-raised by its test item)."""
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def outcome(self) -> ScanOutcome | None:
        """The first node's outcome (the only one on a one-recorder lab)."""
        return self.outcomes[0] if self.outcomes else None


class ScenarioRun:
    """One run of one scenario file."""

    def __init__(self, scenario: Scenario, path: Path, text: str, options: RunOptions,
                 scan_names: list[str]) -> None:
        self.scenario = scenario
        self.path = path
        self.text = text
        self.options = options
        self.slots = {name: ScanSlot(name) for name in scan_names}
        self.run_dir = RunDirectory(options.reports, scenario.name)
        self.started = utc_now()
        self.preflight: Preflight | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.thresholds: list[ThresholdResult] = []
        self.verdict: str | None = None
        self.abort_reason: str | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._pool: CheckerPool | None = None
        self._recorders: list[ScanRecorder] = []
        self._probes: list[NodeProbe] = []
        self._finalized = False
        self.hurry = threading.Event()
        self._run_lock: run_lock.RunLock | None = None
        self.orphans_stopped: list[str] = []
        self._fault_undo: dict[str, list[str]] = {}
        self.last_progress = time.monotonic()
        self.write_results()

    # -- preflight -----------------------------------------------------------------------------------
    def prepare(self) -> Preflight:
        """Provision and verify the lab, start and configure the recorder (once)."""
        if self.preflight is None:
            self.preflight = Preflight()  # owned by the run from here: teardown stops whatever bring_up started
            try:
                self._run_lock, self.orphans_stopped = run_lock.acquire(self.scenario.name)
            except LabError as exc:  # a lock folder that is not ours: refused, named
                self.preflight.checks.append(Check("run lock", False, one_line(exc)))
                self.write_results()
                return self.preflight
            lock = self._run_lock
            if lock.inherited_lab:
                self.orphans_stopped.append(f"the local lab, up since the {lock.inherited_lab} brought it up: "
                                            "this run takes it down at its end")
            for line in self.orphans_stopped:
                print(f"{self.scenario.name}: stopped {line}", file=sys.stderr, flush=True)
                with self.run_dir.log("lab").open("a") as fh:
                    fh.write(f"stopped {line}\n")
            self.preflight.before_lab_up = lambda: lock.note(**{run_lock.LAB_NOTE: True})
            try:
                with keep_signal_handlers():
                    bring_up(self.scenario, self.options, self.run_dir, self.preflight, announce=self._announce)
                if lock.inherited_lab:  # the lab this run found up is its own to take down, whatever it ran on
                    self.preflight.inherited_lab = True
            except BaseException as exc:  # a harness bug (or Ctrl-C) in the preflight: no scan may wait for it
                self.preflight.checks.append(Check("preflight", False, f"stopped by {type(exc).__name__}: {exc}"))
                self._skip_remaining("preflight failed")
                self.done.set()
                raise
            finally:
                self.write_results()
        return self.preflight

    def _announce(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        with self.run_dir.log("lab").open("a") as fh:
            fh.write(line + "\n")

    # -- the scans -----------------------------------------------------------------------------------
    def start(self, selected: list[str]) -> None:
        """Record the selected scans in the background, in schedule order."""
        if self._thread is not None:
            return
        preflight = self.prepare()
        for name, slot in self.slots.items():
            if name not in selected:
                slot.skipped = "deselected"
                slot.done.set()
        if not preflight.passed or not preflight.recorders or not preflight.pairs:
            self._skip_remaining("preflight failed")
            self.done.set()
            return
        probes = self._node_probes(preflight)
        for index, pair in enumerate(preflight.pairs):
            node_probes = {"recorder": probes[pair.recorder_node]} if pair.recorder_node in probes else {}
            if index == 0 and isinstance(pair, NodePair) and pair.sender.name in probes:
                node_probes["sender"] = probes[pair.sender.name]
            self._recorders.append(ScanRecorder(self.scenario, self.options, self.run_dir,
                                                preflight.recorders[pair.recorder_node], pair, self.stop_requested,
                                                node_probes))
        for recorder in self._recorders:
            if recorder.fault_site is not None:
                recorder.fault_site.keep_undo = self._keep_fault_undo
        for slot in self.slots.values():
            slot.expected = len(self._recorders)
        self._pool = CheckerPool(initializer=ignore_terminal_signals)
        self._thread = threading.Thread(target=self._run_scans, args=(selected,), name="scans", daemon=True)
        self._thread.start()

    def _keep_fault_undo(self, key: str, argv: list[str] | None) -> None:
        """The run lock keeps how to remove each fault in force, for the run that reaps this one if it is killed."""
        with self._lock:
            if argv is None:
                self._fault_undo.pop(key, None)
            else:
                self._fault_undo[key] = argv
            if self._run_lock is not None:
                self._run_lock.note(**{run_lock.FAULTS_NOTE: dict(self._fault_undo)})

    def _node_probes(self, preflight: Preflight) -> dict[str, NodeProbe]:
        """Inventory labs: each node's own probe, over SSH, for the whole run."""
        found: dict[str, NodeProbe] = {}
        for pair in preflight.pairs:
            if not isinstance(pair, NodePair):
                continue
            for node in (pair.sender, pair.recorder):
                if node.name not in found:
                    found[node.name] = NodeProbe(node, self.scenario.metrics_period, self.run_dir.log("lab"))
        self._probes = list(found.values())
        return found

    def _record_everywhere(self, name: str) -> None:
        """One scan on every recorder node at once, each with its own sender; each outcome submitted."""
        slot = self.slots[name]
        number = list(self.slots).index(name) + 1

        def record(recorder: ScanRecorder) -> None:
            try:
                outcome, target = recorder.record(name, number)
            except SYSTEM_FAULTS as exc:  # the system under test failed this scan: a finding on that node
                outcome = ScanOutcome(name=name, started=utc_now(), finished=utc_now(), recorder_node=recorder.node)
                outcome.problems.append(f"recording {name} on {recorder.node} failed: {type(exc).__name__}: {exc}")
                target = None
            except Exception as exc:  # a bug of the harness: its scan item shows the traceback; the run goes on
                slot.error = exc
                outcome = ScanOutcome(name=name, started=utc_now(), finished=utc_now(), recorder_node=recorder.node)
                outcome.problems.append(f"harness error while recording {name}: {type(exc).__name__}: {exc} "
                                        "(traceback in the test report)")
                target = None
            self._submit(slot, outcome, target)

        threads = [threading.Thread(target=record, args=(r,), name=f"scan-{r.node}", daemon=True)
                   for r in self._recorders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _run_scans(self, selected: list[str]) -> None:
        if not self._recorders:
            return
        try:
            for recorder in self._recorders:
                recorder.start_metrics()
            ordered = [name for name in self.slots if name in selected]
            recorded = []
            for index, name in enumerate(ordered):
                if self.stop_requested.is_set():
                    break
                self._record_everywhere(name)
                recorded.append(self.slots[name])
                if index + 1 < len(ordered):
                    self.stop_requested.wait(self.scenario.schedule.gap * self.options.duration_scale)
            for slot in recorded:  # every validation, whatever its result, before the run is done
                while not slot.done.wait(0.2):
                    if self.hurry.is_set():
                        self._drop_validations()
        finally:
            for recorder in self._recorders:
                recorder.stop_metrics()
            self._skip_remaining(self.abort_reason or "run interrupted")
            self.done.set()

    def _submit(self, slot: ScanSlot, outcome: ScanOutcome, target: ScanTarget | None) -> None:
        if target is None or self._pool is None:
            self._finish_scan(slot, outcome, None)
            return
        try:
            self._pool.submit(outcome.name, validate, target, self._expectation(outcome),
                              done=lambda answer: self._finish_scan(slot, outcome, answer, target))
        except BaseException as exc:  # a shut-down pool: the scan stays, marked not validated
            outcome.problems.append(f"could not validate {outcome.name}: {type(exc).__name__}: {exc}")
            self._finish_scan(slot, outcome, None)

    def _drop_validations(self) -> None:
        """A second Ctrl-C: validations not yet begun are dropped (their scans say so)."""
        if self._pool is not None:
            self._pool.drop_pending()

    def _expectation(self, outcome: ScanOutcome) -> dict[str, Any]:
        expect = expectation_fields(self.scenario)
        due = outcome.frames_expected if outcome.frames_expected is not None else outcome.frames_sent
        if due is not None and not outcome.interrupted:
            expect["expected_frames"] = due  # a shortfall becomes a finding with its count
        spec = self.scenario.stream.format_spec  # (LWA RBeam's checker has no schedule-judged loss profile)
        if self.scenario.stream.source != "external" and not outcome.interrupted and (
                spec is None or judges_schedule(spec)):
            expect.update(sender_schedule(outcome.sender))  # the loss profile's seconds: what was due in each
        expect.update(stand_in.capture_window(self.scenario, outcome))  # external: frames due from record=on on
        return expect

    def _finish_scan(self, slot: ScanSlot, outcome: ScanOutcome, answer: CheckAnswer | None,
                     target: ScanTarget | None = None) -> None:
        try:
            if answer is not None:  # a dead checker process comes back as an error naming the scan (checker_pool)
                if isinstance(answer, BaseException):  # a bug of the checker (what it cannot read is an error)
                    slot.error = answer if isinstance(answer, Exception) else RuntimeError(repr(answer))
                    check = {"error": f"harness error while validating {outcome.name}: {type(answer).__name__}: "
                                      f"{answer} (traceback in the test report)"}
                else:
                    check = answer
                if "harness_bug" in check:  # the checker's bug on the recorder node, its traceback brought back
                    slot.error = HarnessBugOnNode(outcome.recorder_node, str(check["harness_bug"]))
                    check = {"error": f"harness error while validating {outcome.name} on {outcome.recorder_node} "
                                      "(traceback in the test report)"}
                if "error" in check:
                    outcome.problems.append(check["error"])
                    outcome.check = check
                else:
                    outcome.apply_check(check, self.scenario.stream.frame_bytes)
                    if outcome.faults:  # each fault's own counter against the harness's count
                        outcome.problems.extend(judge_faults(
                            outcome.faults, {**outcome.counts(), "frames_sent": outcome.frames_sent or 0},
                            udps=self.scenario.stream.udps, kernel_udp=outcome.kernel_udp,
                            recorder_stats=outcome.recorder_stats, recorder_notes=outcome.recorder_notes))
                    if not outcome.recorder_claims:  # (the KATCP control path is judged below, by its sensors)
                        outcome.problems.extend(judge_self_report(
                            outcome.recorder_stats, lost_frames=outcome.lost_frames, frames_sent=outcome.frames_sent,
                            udps=self.scenario.stream.udps, backend=self.scenario.recorder.backend,
                            datagrams_per_frame=self.scenario.stream.datagrams_per_frame))
                    if outcome.recorder_claims:
                        outcome.problems.extend(judge_counts(CountClaims(**outcome.recorder_claims),
                                                             valid_frames=outcome.frame_counts.valid_frames,
                                                             missing_frames=outcome.frame_counts.missing_frames,
                                                             fill_frames=int(check.get("fill_frames") or 0)))
            outcome.breaches = scan_breaches(self.scenario.thresholds, outcome)
            outcome.passed = (outcome.validated and not outcome.breaches and not outcome.problems
                              and not outcome.stopped_early and not outcome.interrupted)
            if outcome.passed and self.scenario.schedule.rolling and target is not None:
                try:
                    target.delete()
                    outcome.deleted = True
                except SYSTEM_FAULTS as exc:  # the recording stays on its node: said, and the disks may fill
                    outcome.problems.append(f"could not delete {outcome.name} on {outcome.recorder_node}: "
                                            f"{one_line(exc)}")
                    outcome.passed = False
            if not outcome.passed and self.options.abort_on_breach and not self.stop_requested.is_set():
                self.abort_reason = f"aborted after scan {outcome.name} failed (--abort-on-breach)"
                self.stop_requested.set()
        except Exception as exc:  # a bug of the harness in judging the scan: its item shows the traceback
            slot.error = exc
            outcome.passed = False
            outcome.problems.append(f"harness error while judging {outcome.name}: {type(exc).__name__}: {exc} "
                                    "(traceback in the test report)")
        finally:
            with self._lock:
                slot.outcomes.append(outcome)
                slot.skipped = None
                complete = len(slot.outcomes) >= slot.expected
            self.write_results()
            outcome.freeze()  # written: its bulky parts compressed, as results.json has them
            give_back_free_pages()  # (the checker's answer and the sender's stats just parsed, now freed)
            if complete:
                slot.done.set()

    def _skip_remaining(self, reason: str) -> None:
        for slot in self.slots.values():
            if not slot.done.is_set():
                slot.skipped = reason
                slot.done.set()

    # -- waiting (from the pytest items, in the main thread) ------------------------------------------
    def wait_scan(self, name: str, tick: Callable[[], None] | None = None) -> ScanSlot:
        slot = self.slots[name]
        while not slot.done.wait(1.0):
            if tick:
                tick()
        return slot

    def wait_done(self, tick: Callable[[], None] | None = None) -> None:
        while not self.done.wait(1.0):
            if tick:
                tick()

    def progress_line(self) -> str:
        recorder = self._recorders[0] if self._recorders else None
        finished = [s for s in self.slots.values() if s.done.is_set() and s.outcomes]
        lost = sum(o.lost_frames for s in finished for o in s.outcomes)
        current = recorder.current if recorder else None
        total = len(self.slots)
        index = len(finished) + (1 if current else 0)
        rates = [r.current_gbps() for r in self._recorders]
        rate = sum(r for r in rates if r is not None) if any(r is not None for r in rates) else None
        left = (total - len(finished)) * (self.scenario.schedule.scan_length + self.scenario.schedule.gap) \
            * self.options.duration_scale
        shown = "-" if rate is None else f"{rate:.3f}"
        return (f"{self.scenario.name}: scan {min(index, total)}/{total}"
                f"{' ' + current if current else ''} | {shown} Gbit/s | "
                f"lost {lost} so far | about {left:.0f} s left")

    # -- the end ------------------------------------------------------------------------------------
    def stop(self, interrupted: bool) -> None:
        """Stop the run (Ctrl-C, SIGTERM, -x): the current scan is closed and validated, then finalize."""
        with signals_deferred(self.hurry_stop):
            if interrupted and self.abort_reason is None:
                self.abort_reason = "run interrupted"
            self.stop_requested.set()
            for recorder in self._recorders:
                recorder.interrupt()
            if self._thread is not None:
                self._thread.join(timeout=300)  # jive5ab's record=off alone may take minutes
            self.finalize(interrupted=interrupted)

    def hurry_stop(self, presses: int) -> None:
        """Ctrl-C again while stopping: validations not yet begun are dropped; teardown still happens in full."""
        self.hurry.set()
        self._drop_validations()
        if presses == 1:  # os.write: a signal handler must not re-enter a buffered stream
            os.write(2, f"\n{self.scenario.name}: stopping; the scan in progress is closed and everything the run "
                        "started is stopped (Ctrl-C again only drops validations not yet begun)\n".encode())

    def finalize(self, interrupted: bool = False) -> None:
        """Thresholds and verdict, results.json, reports, then stop the recorder and the lab (once)."""
        with self._lock:
            if self._finalized:
                return
            self._finalized = True
        with signals_deferred(self.hurry_stop):  # Ctrl-C now cannot cut the teardown short
            try:
                self._judge(interrupted)
            finally:  # also after a harness bug in judging: the recorder and the lab are stopped
                self._close()

    def _judge(self, interrupted: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel=self.hurry.is_set())
        outcomes = self.outcomes()
        for recorder in self._recorders:
            recorder.stop_metrics()
        for probe in self._probes:  # all asked at once, then each waited for
            probe.stop()
        for probe in self._probes:
            probe.close()
        errors = [r.udp_errors().get("RcvbufErrors") for r in self._recorders]
        free = [r.lowest_free() for r in self._recorders]
        known = [e for e in errors if e is not None]  # a node whose counter is unknown: not measured, not zero
        self.thresholds = evaluate(self.scenario.thresholds, outcomes,
                                   rcvbuf_errors=sum(known) if errors and len(known) == len(errors) else None,
                                   min_disk_free=min(f for f in free if f is not None)
                                   if free and None not in free else None)
        failed = (self.preflight is not None and not self.preflight.passed) or any(
            not t.passed for t in self.thresholds) or any(not o.passed for o in outcomes)
        interrupted = interrupted or self.abort_reason == "run interrupted"
        self.verdict = "interrupted" if interrupted else "fail" if failed or not outcomes else "pass"
        self.write_results(finished=True)

    def _close(self) -> None:
        try:
            if self.preflight is not None:
                with keep_signal_handlers():
                    tear_down(self.preflight, self.options, self.run_dir, keep_data=self.verdict != "pass",
                              verdict=self.verdict)
            self.write_results(finished=True)
            self.run_dir.close()
            self._render_reports()
        finally:
            if self._run_lock is not None:
                self._run_lock.release()

    def outcomes(self) -> list[ScanOutcome]:
        """Every scan on every recorder node, in schedule order."""
        with self._lock:
            return [o for s in self.slots.values() for o in list(s.outcomes)]

    def _render_reports(self) -> None:
        """HTML report, trend index and acceptance report; a failure here never loses results.json."""
        try:
            from harness.report import render_acceptance, render_index, render_run
        except ImportError:
            return
        log = self.run_dir.log("report")
        try:
            render_run(self.run_dir.path)
            if self.options.acceptance or self.scenario.acceptance:
                render_acceptance(self.run_dir.path, signer=None)
            render_index(self.run_dir.reports)
        except Exception as exc:
            with log.open("a") as fh:
                fh.write(f"report rendering failed: {type(exc).__name__}: {exc}\n")

    def results(self, finished: bool = False, scans: bool = True) -> dict[str, Any]:
        """results.json's document; without ``scans`` its scans list is left empty (``write_results`` streams
        each scan's text into it)."""
        preflight = self.preflight
        outcomes = self.outcomes()
        breached = [t.name for t in self.thresholds if not t.passed]
        return {
            "schema": 1,
            "scenario": {"name": self.scenario.name, "description": self.scenario.description,
                         "file": str(self.path), "text": self.text,
                         "requirements": [r.model_dump() for r in self.scenario.requirements],
                         "as_run": self.scenario.to_json()},
            "verdict": self.verdict if finished else "running",
            "breached": breached,
            "abort_reason": self.abort_reason,
            "started": self.started,
            "finished": utc_now() if finished else None,
            "duration_scale": self.options.duration_scale,
            "run_by": f"{getpass.getuser()}@{socket.gethostname()}",
            "harness_version": __version__,
            "versions": versions(preflight.version if preflight else None),
            "recorder": {**preflight.recorder_json(), "stream_format": self.scenario.stream.format} if preflight
            else {},
            "stand_in_sender": {"skip_threads": list(stand_in.skipped_threads(self.scenario, self.options))}
            if stand_in.stands_in(self.scenario, self.options) else None,
            "sender": {"version": __version__, "node": self._sender_node(),
                       "stream": self.scenario.stream.model_dump(mode="json"),
                       "nominal_gbps": round(self.scenario.stream.nominal_gbps, 6)
                       if self.scenario.stream.source == "harness" else None},
            "preflight": [c.to_json() for c in preflight.checks] if preflight else [],
            "scans": [o.to_json() for o in outcomes] if scans else [],
            "faults": [{**f, "node": o.recorder_node} for o in outcomes for f in o.faults],
            "skipped_scans": {n: s.skipped for n, s in self.slots.items() if s.skipped},
            "orphans_stopped": list(self.orphans_stopped),
            "thresholds": [t.to_json() for t in self.thresholds],
            "environment": preflight.environment if preflight else {},
            "logs": self._logs(),
            "metrics": "metrics.jsonl",
            "wall_seconds": round(time.time() - self.run_dir.created, 3),
        }

    def _sender_node(self) -> str:
        pair = self.preflight.nodes if self.preflight else None
        return pair.sender.name if isinstance(pair, NodePair) else self.scenario.lab.sender

    def _logs(self) -> dict[str, str]:
        """Log name -> path in the run folder; a recorder node's logs under nodes/<node>/."""
        root = self.run_dir.path
        found = {name: f"{name}.log" for name in ("sender", "recorder", "lab", "report")
                 if self.run_dir.log(name).exists()}
        found.update({p.stem: p.name for p in sorted(root.glob("sender-*.log"))})
        found.update({f"{p.parent.name} {p.stem}": str(p.relative_to(root))
                      for p in sorted(root.glob("nodes/*/*.log"))})
        return found

    def write_results(self, finished: bool = False) -> None:
        with self._lock:
            self.run_dir.write_results(self.results(finished, scans=False),
                                       (o.json_text() for o in self.outcomes()))
