"""The items of a scenario: preflight, one per scan, and the thresholds verdict.

A failure is reported as one line naming the scan or threshold (no traceback): the system under test was
wrong. A harness bug still shows its traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pytest

from harness.frame_counts import JUDGED

if TYPE_CHECKING:
    from harness.pytest_plugin.collect import ScenarioFile
    from harness.scenario.engine import ScenarioRun

ACTIVE_RUNS = pytest.StashKey[list["ScenarioRun"]]()
"""The scenario runs still open in this pytest session (closed at its end, or after Ctrl-C)."""


def active_runs(session: pytest.Session) -> list[ScenarioRun]:
    return session.stash.setdefault(ACTIVE_RUNS, [])


class ScenarioFailure(Exception):
    """The system under test breached something: shown as its one-line message."""


class HarnessBug(Exception):
    """A bug of the harness met in the background while recording a scan (its cause carries the traceback)."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, markers: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for marker in markers:
            self.add_marker(marker)

    @property
    def scenario_file(self) -> ScenarioFile:
        return self.parent  # type: ignore[return-value]

    def run(self) -> ScenarioRun:
        return self.scenario_file.run()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.scenario_file.scenario.name}::{self.name}"

    def show_progress(self) -> None:
        """Live progress on the terminal (outside pytest's capture), every few seconds."""
        import time

        now = time.monotonic()
        interactive = sys.stderr.isatty()
        run = self.run()
        if now - run.last_progress < (2.0 if interactive else 30.0):
            return
        run.last_progress = now
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None:
            return
        line = run.progress_line()
        with capture.global_and_fixture_disabled():
            if interactive:
                reporter.write(f"\r{line:<100}")
            else:
                reporter.write_line(line)


    def _start(self, run: ScenarioRun) -> None:
        run.prepare()
        selected = self.scenario_file.selected_scans
        run.start(self.scenario_file.scan_names() if selected is None else selected)


class PreflightItem(ScenarioItem):
    """The lab provisioned and verified, the recorder reachable and configured."""

    def runtest(self) -> None:
        run = self.run()
        self._start(run)
        preflight = run.prepare()
        for check in preflight.checks:
            self.user_properties.append((f"preflight:{check.name}", "pass" if check.passed else check.detail))
        if not preflight.passed:
            raise ScenarioFailure(f"{run.scenario.name}: preflight failed: {preflight.failures()}")


class ScanItem(ScenarioItem):
    """One scan: recorded, then validated by the checker."""

    def __init__(self, *, scan: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scan = scan

    def runtest(self) -> None:
        run = self.run()
        if run.preflight is None:
            self._start(run)  # preflight deselected (-k): it still runs, as part of the first scan
        slot = run.wait_scan(self.scan, tick=self.show_progress)
        if slot.error is not None:  # a bug of the harness: shown with its traceback, under this scan's name
            error = slot.error
            raise HarnessBug(f"scan {self.scan}: {type(error).__name__}: {error}") from error
        if not slot.outcomes:
            pytest.skip(f"scan {self.scan} not recorded: {slot.skipped}")
        failed = []
        for outcome in slot.outcomes:
            where = f"{outcome.recorder_node}:" if slot.expected > 1 else ""
            counts = outcome.counts()
            shown = {"frames_sent": outcome.frames_sent, "valid_frames": counts["valid_frames"],
                     **{c.name: counts[c.name] for c in JUDGED}, "rate_gbps": outcome.rate_gbps}
            self.user_properties.extend((f"{where}{key}", value) for key, value in shown.items())
            if not outcome.passed:
                node = f" on {outcome.recorder_node}" if slot.expected > 1 else ""
                failed.append(f"scan {outcome.name}{node}: {outcome.summary() or 'not validated'}")
        if failed:
            raise ScenarioFailure("; ".join(failed))


class VerdictItem(ScenarioItem):
    """The scenario's thresholds over the whole run."""

    def runtest(self) -> None:
        run = self.run()
        if run.preflight is None:
            self._start(run)
        run.wait_done(tick=self.show_progress)
        run.finalize()
        runs = active_runs(self.session)
        if run in runs:
            runs.remove(run)
        for threshold in run.thresholds:
            self.user_properties.append((threshold.name, threshold.value))
        if run.preflight is not None and not run.preflight.passed:
            raise ScenarioFailure(f"{run.scenario.name}: not judged: preflight failed: {run.preflight.failures()}")
        breached = [t.describe() for t in run.thresholds if not t.passed]
        if breached:
            raise ScenarioFailure(f"{run.scenario.name}: thresholds breached: {'; '.join(breached)} "
                                  f"(results in {run.run_dir.path})")
        if run.verdict != "pass":
            raise ScenarioFailure(f"{run.scenario.name}: verdict {run.verdict} (results in {run.run_dir.path})")
