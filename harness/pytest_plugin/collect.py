"""Scenario files as pytest collectors: malformed ones fail at collection with one file:line message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.pytest_plugin.items import PreflightItem, ScanItem, VerdictItem, active_runs
from harness.scenario.loading import ScenarioError, load_scenario
from harness.scenario.schema import Scenario

if TYPE_CHECKING:
    from harness.scenario.engine import ScenarioRun
    from harness.scenario.setup import RunOptions


def is_scenario_file(path: Path, config: pytest.Config) -> bool:
    """YAML files in a ``scenarios`` folder, or named on the command line."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if "scenarios" in path.parts:
        return True
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    return path.resolve() in named


class ScenarioFile(pytest.File):
    """One scenario: items preflight, one per scan, thresholds."""

    scenario: Scenario
    text: str
    selected_scans: list[str] | None = None
    _run: ScenarioRun | None = None

    def collect(self) -> Iterator[pytest.Item]:
        try:
            self.text = self.path.read_text()
            self.scenario = load_scenario(self.path, self.text)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        except OSError as exc:
            raise self.CollectError(f"{self.path}: cannot read: {exc.strerror}") from None
        from harness.scenario.stand_in import refusal

        refused = refusal(self.scenario, self.options())
        if refused:
            raise self.CollectError(f"{self.path}: {refused}")
        markers = self._markers()
        yield PreflightItem.from_parent(self, name="preflight", markers=markers)
        for name in self.scan_names():
            yield ScanItem.from_parent(self, name=name, scan=name, markers=markers)
        yield VerdictItem.from_parent(self, name="thresholds", markers=markers)

    def scan_names(self) -> list[str]:
        schedule = self.scenario.schedule
        try:
            return [schedule.scan_name.format(scenario=self.scenario.name, n=n + 1)
                    for n in range(schedule.scan_count)]
        except (KeyError, IndexError, ValueError) as exc:
            raise self.CollectError(
                f"{self.path}: schedule.scan_name: a pattern using {{scenario}} and {{n}} ({exc})") from None

    def _markers(self) -> list[str]:
        scenario = self.scenario
        config = self.config
        markers = ["scenario"]
        lab = config.getoption("lab") or scenario.lab.inventory
        if lab != "none":
            markers += ["lab", "root"]
        if (config.getoption("recorder") or scenario.recorder.backend) == "jive5ab":
            markers.append("jive5ab")
        schedule = scenario.schedule
        total = schedule.scan_count * (schedule.scan_length + schedule.gap) * config.getoption("duration_scale")
        if total > 3600:
            markers.append("soak")
        return markers

    def options(self) -> RunOptions:
        from harness.scenario.setup import RunOptions

        config = self.config
        return RunOptions(
            reports=Path(config.getoption("reports")).resolve(), recorder=config.getoption("recorder"),
            jive5ab_bin=config.getoption("jive5ab_bin"), jive5ab_image=config.getoption("jive5ab_image"),
            lab=config.getoption("lab"), duration_scale=config.getoption("duration_scale"),
            abort_on_breach=config.getoption("abort_on_breach"), acceptance=config.getoption("acceptance"),
            keep_lab=config.getoption("keep_lab"), provision=config.getoption("provision"),
            lab_check=not config.getoption("skip_lab_check"), recorder_control=config.getoption("recorder_control"),
            stand_in_sender=config.getoption("stand_in_sender"),
            stand_in_skip_threads=tuple(config.getoption("stand_in_skip_thread")),
        )

    def run(self) -> ScenarioRun:
        """The run of this file, created on first use by an item."""
        if self._run is None:
            from harness.scenario.engine import ScenarioRun

            self._run = ScenarioRun(self.scenario, self.path, self.text, self.options(), self.scan_names())
            active_runs(self.session).append(self._run)
        return self._run
