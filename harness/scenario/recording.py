"""Recording one scan: record=on, the sender for the scan length, drain, record=off; metrics throughout."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.faults.injector import ScanContext
from harness.faults.site import FaultSite
from harness.faults.timeline import ScanFaults
from harness.recorder.errors import RecorderError, ReplyTimeout
from harness.recorder.model import Recorder
from harness.scenario import stand_in
from harness.scenario.errors import SYSTEM_FAULTS
from harness.scenario.hung import HungWatch, poll_timeout
from harness.scenario.metrics import MetricsSampler, ProcessProbe, udp_counters
from harness.scenario.node_metrics import NodeProbe
from harness.scenario.nodes import Nodes
from harness.scenario.outcome import ScanOutcome
from harness.scenario.run_dir import RunDirectory, utc_now
from harness.scenario.schema import Scenario
from harness.scenario.sender_process import SenderFailed, SenderProcess, sender_argv
from harness.scenario.setup import RunOptions, one_line
from harness.scenario.validation import ScanTarget

BIND_SETTLE_S = 0.3
"""jive5ab binds its data socket after replying to record=on (reference/jive5ab.md §2a)."""
DRAIN_QUIET_S = 1.0
"""After the sender ends, record=off waits until the recorder's packet count has not moved for this long (or
has reached what was sent): a busy recorder is still reading its socket, and a fixed pause would cut it off."""
DRAIN_LIMIT_S = 30.0
"""The longest wait for that, after which record=off is sent whatever the recorder is doing."""
STARTUP_S = 8.0
"""Time for the sender to start on its node (ssh, Python) and reach its first whole second, on a busy machine."""


class ScanRecorder:
    """Drives the sender and the recorder for each scan and samples metrics while they run."""

    def __init__(self, scenario: Scenario, options: RunOptions, run_dir: RunDirectory, recorder: Recorder,
                 nodes: Nodes, stop: threading.Event, probes: dict[str, NodeProbe] | None = None) -> None:
        self.scenario = scenario
        self.options = options
        self.run_dir = run_dir
        self.recorder = recorder
        self.nodes = nodes
        self.stop = stop
        self.current: str | None = None
        self.sender: SenderProcess | None = None
        self.next_sequence = 0
        self._control = threading.Lock()
        self.hung = HungWatch()
        self.remote = nodes.recorder_ssh is not None
        self.node = nodes.recorder_node
        self.probes = probes or {}
        self._recorder_probe = ProcessProbe(None if self.remote else recorder.pid)
        self._harness_probe = ProcessProbe(os.getpid())
        self._last_sender: tuple[float, int] | None = None
        self._gbps: float | None = None
        sources: dict[str, Callable[[], dict[str, Any] | None]] = {
            "sender": self._sender_metrics, "recorder": self._recorder_metrics, "harness": self._harness_metrics,
            "sensors": self._sensor_metrics}
        for role, probe in self.probes.items():  # the nodes' own figures (inventory labs), from their probes
            sources[f"{role}_node"] = probe.sample
        self.fault_site = FaultSite.of(nodes, run_dir.log("faults")) if scenario.faults else None
        self.metrics = MetricsSampler(scenario.metrics_period, [] if self.remote else list(nodes.mount_points),
                                      self._sample_sink, sources, local=not self.remote)

    # -- metrics ------------------------------------------------------------------------------------
    def start_metrics(self) -> None:
        self.metrics.start()

    def stop_metrics(self) -> None:
        self.metrics.close()

    def _sample_sink(self, sample: dict[str, Any]) -> None:
        sample["node"] = self.node
        self.run_dir.append_metrics(sample)

    def _sender_metrics(self) -> dict[str, Any] | None:
        sender = self.sender
        progress = sender.progress() if sender is not None else None
        if not progress:
            self._gbps = None
            return None
        now, sent = progress["t"], progress["bytes_sent"]
        gbps = None
        if self._last_sender is not None and now > self._last_sender[0] and sent >= self._last_sender[1]:
            gbps = (sent - self._last_sender[1]) * 8 / (now - self._last_sender[0]) / 1e9
        self._last_sender = (now, sent)
        self._gbps = gbps
        return {"frames": progress["frames_sent"], "bytes": sent, "gbps": None if gbps is None else round(gbps, 6),
                "cpu_s": progress.get("cpu_s"), "rss_bytes": progress.get("rss_bytes"),
                "send_errors": progress.get("send_errors", {})}

    def _recorder_metrics(self) -> dict[str, Any]:
        wait = poll_timeout(self.scenario.metrics_period)  # never longer: a hung recorder is named by the next poll
        if not self._control.acquire(timeout=wait):  # the schedule is talking to it (record=off may take minutes)
            return {"busy": True, **(self._recorder_probe.sample() or {})}
        try:
            status = self.recorder.status(timeout=wait)
        except ReplyTimeout as exc:
            self.hung.no_reply(exc, wait)
            raise
        finally:
            self._control.release()
        self.hung.replied()
        sample: dict[str, Any] = {"recording": status.recording, "packets": status.packets, "lost": status.lost,
                  "out_of_order": status.out_of_order, "bytes": status.bytes}
        sample.update(self._recorder_probe.sample() or {})
        return sample

    def _sensor_metrics(self) -> dict[str, Any] | None:
        """The control path's sensors as the recorder source just read them (KATCP), else nothing."""
        return self.recorder.sensor_readings()

    def _harness_metrics(self) -> dict[str, Any]:
        """The harness's own process, and the size of what it writes that grows with the run (a soak's slopes)."""
        sample: dict[str, Any] = dict(self._harness_probe.sample() or {})
        for key, name in (("results_bytes", "results.json"), ("metrics_bytes", "metrics.jsonl")):
            with contextlib.suppress(OSError):
                sample[key] = (self.run_dir.path / name).stat().st_size
        return sample

    def current_gbps(self) -> float | None:
        return self._gbps

    def udp_errors(self) -> dict[str, int]:
        """The recorder node's kernel UDP counters since the run began."""
        probe = self.probes.get("recorder")
        return probe.udp_errors_since_start() if probe else self.metrics.udp_errors_since_start()

    def lowest_free(self) -> int | None:
        probe = self.probes.get("recorder")
        return probe.lowest_free() if probe else self.metrics.lowest_free

    # -- one scan -----------------------------------------------------------------------------------
    def record(self, name: str, number: int = 0) -> tuple[ScanOutcome, ScanTarget | None]:
        """Record one scan (``number``: its place in the schedule, 1-based, for the fault timeline); its outcome
        (not yet validated) and where its data is."""
        scenario = self.scenario
        outcome = ScanOutcome(name=name, started=utc_now(), nominal_gbps=self._nominal_frame_gbps(),
                              recorder_node=self.node)
        flat = None
        try:
            with self._control:
                if scenario.recorder.recording == "net2file":
                    flat = str(Path(self.nodes.mount_points[0]) / f"{name}.vdif")
                    self.recorder.net2file_open(flat)
                else:
                    outcome.name = self.recorder.record_on(name)
                    outcome.capture_block = self.recorder.capture_block
            outcome.capture_started = time.time()
        except SYSTEM_FAULTS as exc:  # the recorder refused: a finding for this scan (a refusal leaves nothing open)
            outcome.capture_block = self.recorder.capture_block
            outcome.problems.append(f"recorder refused to start {name}: {one_line(exc)}")
            outcome.finished = utc_now()
            return outcome, None
        self.current = outcome.name
        self.metrics.scan = outcome.name
        began = time.monotonic()
        product = None
        faults = self._scan_faults(outcome, number)
        kernel_before = self._kernel_udp()
        try:
            self._send(outcome, faults)
        finally:
            if faults:  # every fault removed before the scan is closed, whatever happened while sending
                first = self.sender.first_frame if self.sender is not None else None
                faults.finish(outcome.sender or None, first or outcome.capture_started)
            self.sender = None  # between scans the metrics show no sender
            self._drain(outcome)
            if kernel_before:
                after = self._kernel_udp()
                outcome.kernel_udp = {k: after.get(k, 0) - v for k, v in kernel_before.items()}
            outcome.capture_stopped = time.time()
            try:
                product = self._close_scan(outcome, flat is not None)
            finally:
                if faults:  # what only the closed scan lets go of (an unmounted disk), then the records
                    outcome.faults = [r.to_json() for r in faults.after_close()]
            outcome.problems.extend(self.hung.findings(outcome.name, outcome.capture_started or 0.0, time.time()))
            outcome.duration_s = outcome.duration_s or round(time.monotonic() - began, 6)
            outcome.finished = utc_now()
            self.current = None
            self.metrics.scan = None
        name, disks = product or (outcome.name, self.nodes.disk_glob)
        return outcome, ScanTarget(name, disks, flat, node=self.node, ssh=self.nodes.recorder_ssh,
                                   python=self.nodes.recorder_python, become=self.nodes.recorder_become)

    def _scan_faults(self, outcome: ScanOutcome, number: int) -> ScanFaults | None:
        if self.fault_site is None or not number:
            return None
        stream = self.scenario.stream
        recorder = self.recorder
        context = ScanContext(scan=outcome.name, port=stream.port, recorder_ip=self.nodes.recorder_ip,
                              datagram_bytes=stream.datagram_bytes, udps=stream.udps,
                              recorder_pid=lambda: recorder.pid,
                              sender_pid=lambda: self.sender.node_pid if self.sender is not None else None,
                              mount_points=list(self.nodes.mount_points))
        found = ScanFaults(list(enumerate(self.scenario.faults)), number, self.fault_site, context,
                           self.options.duration_scale)
        return found or None

    def _kernel_udp(self) -> dict[str, int]:
        """The recorder node's kernel UDP counters (this machine's, when the recorder is here), for the scan's
        own deltas: RcvbufErrors are datagrams its socket dropped, NoPorts those that found no socket."""
        if self.remote:
            return {}
        counters = udp_counters()
        return {k: counters[k] for k in ("InDatagrams", "RcvbufErrors", "InErrors", "NoPorts") if k in counters}

    def _first_frame(self, sender: SenderProcess | None, outcome: ScanOutcome) -> float | None:
        """When the scan's first frame goes (the fault timeline counts from it): the sender says so before it
        sends; for an external stream, when the recorder took record=on."""
        if sender is None:
            return outcome.capture_started
        if not sender.begun.wait(STARTUP_S + 5.0) or sender.first_frame is None:
            return None
        return sender.first_frame

    def _nominal_frame_gbps(self) -> float:
        stream = self.scenario.stream
        if stream.source == "external":
            return 0.0
        return stream.frame_gbps

    def _send(self, outcome: ScanOutcome, faults: ScanFaults | None = None) -> None:
        scenario, stream, options = self.scenario, self.scenario.stream, self.options
        seconds = scenario.schedule.scan_length * options.duration_scale
        if not stand_in.harness_sends(scenario, options):  # the CBF sends: record what arrives
            if faults:
                faults.start(lambda: self._first_frame(None, outcome))
            outcome.interrupted = self.stop.wait(BIND_SETTLE_S + seconds)
            outcome.duration_s = seconds
            return
        time.sleep(BIND_SETTLE_S)
        destination = stream.destination or stream.multicast or self.nodes.recorder_ip
        argv = sender_argv(stream, destination=destination, seconds=seconds, first_sequence=self.next_sequence,
                           progress=min(1.0, scenario.metrics_period),
                           bind=self.nodes.sender_ip if stream.multicast else None,
                           skip_threads=stand_in.skipped_threads(scenario, options),
                           wire_faults=faults.sender_args() if faults else ())
        log = self.run_dir.log(f"sender-{self.node}" if self.remote else "sender")
        self.sender = sender = SenderProcess(self.nodes.sender_command(argv), log)
        if faults:
            faults.start(lambda: self._first_frame(sender, outcome))
        self._last_sender = None
        self._guard_packets(outcome, seconds)
        try:
            while self.sender.process.poll() is None:
                if self.stop.wait(0.2):
                    self.sender.stop()
                    outcome.interrupted = True
                    break
            stats = self.sender.wait(timeout=seconds + 60)
        except SenderFailed as exc:
            outcome.problems.append(str(exc))
            # what the scan should have carried: every frame the schedule did not get is lost to it
            outcome.frames_expected = round(seconds * stream.frame_rate) * stream.thread_count
            last = self.sender.progress() if self.sender is not None else None
            if last:
                outcome.problems.append(f"the sender's last word before it ended: {last.get('frames_sent')} frames "
                                        "sent")
            return
        finally:
            if self.sender is not None:
                self.sender.kill()
        outcome.sender = stats
        outcome.frames_sent = int(stats["frames_sent"])
        if stand_in.stands_in(scenario, options):  # what the declared stream carried, a skipped thread's too
            outcome.stand_in = True
            outcome.frames_expected = int(stats.get("datagrams_scheduled", outcome.frames_sent))
        outcome.sender_gbps = stats.get("achieved_gbps")
        outcome.duration_s = float(stats["elapsed_s"])
        outcome.interrupted = outcome.interrupted or bool(stats.get("interrupted"))
        self.next_sequence += int(stats.get("datagrams_scheduled", outcome.frames_sent))

    def _guard_packets(self, outcome: ScanOutcome, seconds: float) -> None:
        """The recorder must count packets once the sender runs (jive5ab binds late, or not at all)."""
        try:
            with self._control:
                self.recorder.wait_for_packets(timeout=min(seconds, 5.0) + STARTUP_S)
        except SYSTEM_FAULTS as exc:  # the recorder is not receiving: a finding for this scan
            if self.sender is not None and self.sender.process.poll() is None:
                outcome.problems.append(f"recorder counted no packets after the sender started: {one_line(exc)}")

    def _drain(self, outcome: ScanOutcome) -> None:
        """Until the recorder has counted every frame sent, or its count has stopped moving."""
        status = self.recorder.status
        if outcome.frames_sent is None:  # external source: the stream goes on; nothing to wait for
            time.sleep(DRAIN_QUIET_S)
            return
        datagrams = outcome.frames_sent * self.scenario.stream.datagrams_per_frame  # what the recorder counts
        deadline = time.monotonic() + DRAIN_LIMIT_S
        last, moved = -1, time.monotonic()
        while time.monotonic() < deadline:
            try:
                with self._control:
                    counts = status()
            except RecorderError:  # the close that follows says what is wrong with the recorder
                return
            if counts.packets + counts.lost >= datagrams:
                return
            if counts.packets != last:
                last, moved = counts.packets, time.monotonic()
            elif time.monotonic() - moved >= DRAIN_QUIET_S:
                return
            time.sleep(0.1)

    def _close_scan(self, outcome: ScanOutcome, net2file: bool) -> tuple[str, str] | None:
        """Stop the recording; where the checker finds it, when not under the scan's own name (a KATCP product)."""
        try:
            with self._control:
                result = self.recorder.net2file_stop() if net2file else self.recorder.record_off()
        except SYSTEM_FAULTS as exc:
            outcome.problems.append(f"recorder failed to close {outcome.name}: {one_line(exc)}")
            return None
        outcome.stopped_early = result.stopped_early
        outcome.recorder_stats = {"packets": result.packets, "lost": result.lost, "out_of_order": result.out_of_order,
                                  "bytes": result.bytes}
        outcome.problems.extend(result.findings)  # the control path against the truth: each fails the scan
        outcome.keep_recorder_notes(result.said, result.replies)  # the recorder's own words, kept
        outcome.recorder_claims = result.claims
        if result.capture_block:
            outcome.capture_block = result.capture_block
            outcome.recorder_stats["replies"] = result.replies
        return result.product

    def interrupt(self) -> None:
        """Stop the sender now (Ctrl-C / SIGTERM); the scan is then closed and validated as usual."""
        self.stop.set()
        if self.sender is not None:
            self.sender.stop()

