"""pytest plugin: ``pytest scenarios/meerkat_rate.yaml`` runs a scenario file as a group of test items.

Registered through the ``pytest11`` entry point. Hooks live here; the file collector and the items in
``collect.py`` and ``items.py``.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

from harness.pytest_plugin.collect import ScenarioFile, is_scenario_file
from harness.pytest_plugin.items import active_runs

if TYPE_CHECKING:
    from harness.scenario.engine import ScenarioRun

MARKERS = {
    "scenario": "a scenario item (preflight, a scan, or the thresholds verdict)",
    "soak": "long-running; opt-in",
    "lab": "needs the local lab (python -m harness.lab up)",
    "jive5ab": "needs a real jive5ab (JIVE5AB_BIN or an image)",
    "root": "needs root (loop devices, mounts, namespaces, sysctl)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlbi", "VLBI recording scenarios")
    group.addoption("--recorder", choices=["reference", "jive5ab", "katcp"],
                    help="recorder backend, overriding the scenario")
    group.addoption("--recorder-control", metavar="HOST:PORT",
                    help="attach to this running recorder (or KATCP proxy), overriding recorder.control")
    group.addoption("--jive5ab-bin", help="a jive5ab binary to start (also JIVE5AB_BIN)")
    group.addoption("--jive5ab-image", help="a jive5ab Docker image to run (never built by the harness)")
    group.addoption("--lab", help="'local' (this machine as a lab), 'none' (loopback), or an inventory path")
    group.addoption("--duration-scale", type=float, default=1.0,
                    help="multiply every duration (scan length, gap): a 4-hour soak in minutes")
    group.addoption("--reports", default="reports", help="folder for run output (default reports/)")
    group.addoption("--abort-on-breach", action="store_true", help="stop at the first breached threshold")
    group.addoption("--acceptance", action="store_true", help="also write the acceptance report")
    group.addoption("--keep-lab", action="store_true", help="leave a lab this run brought up running")
    group.addoption("--provision", action="store_true",
                    help="inventory labs: run ansible/site.yml and install the harness on every node first; the "
                         "local lab: converge it with Ansible even when it is up (else a lab that is up is used as "
                         "it is, and the preflight checks it)")
    group.addoption("--skip-lab-check", action="store_true",
                    help="inventory labs: no site.yml --check before the preflight (its testinfra checks still run)")
    group.addoption("--stand-in-sender", action="store_true",
                    help="stream.source external: the harness's vdif-send sends the declared stream, standing in "
                         "for the CBF (without it the harness sends nothing and records what arrives)")
    group.addoption("--stand-in-skip-thread", type=int, action="append", default=[], metavar="ID",
                    help="with --stand-in-sender: never send this thread (repeatable), to see a missing thread")


_session: pytest.Session | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _session
    _session = session


def _open_runs() -> list[ScenarioRun]:
    return active_runs(_session) if _session is not None else []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist: every item of a scenario file on one worker (they share one run); -n 2 runs two files at once
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    scale = config.getoption("duration_scale")
    if scale is not None and scale <= 0:
        raise pytest.UsageError(f"--duration-scale {scale}: must be positive")
    if config.getoption("stand_in_skip_thread") and not config.getoption("stand_in_sender"):
        raise pytest.UsageError("--stand-in-skip-thread needs --stand-in-sender (it leaves out one of its threads)")
    # SIGTERM ends a run like Ctrl-C: the scan is closed and validated, results written, nothing left running
    with contextlib.suppress(ValueError):  # not the main thread (pytest in a thread): leave the signals alone
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)


_presses = 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C (or SIGTERM) stops pytest; while a scenario run is open, later ones only hurry its
    stopping, so that no press between the first and the teardown can leave the recorder or the lab behind."""
    global _presses
    _presses += 1
    runs = _open_runs()
    if _presses > 1 and runs:
        for run in list(runs):
            run.hurry_stop(_presses - 1)
        return
    raise KeyboardInterrupt("SIGTERM" if signum == signal.SIGTERM else "")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tell each scenario which of its scans survived -k/deselection (after it), so only those are recorded."""
    from harness.pytest_plugin.items import ScanItem, ScenarioItem

    selected: dict[ScenarioFile, list[str]] = {}
    for item in items:
        if isinstance(item, ScenarioItem):
            scans = selected.setdefault(item.scenario_file, [])
            if isinstance(item, ScanItem):
                scans.append(item.scan)
    for node, scans in selected.items():
        node.selected_scans = scans


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close every run still open: after Ctrl-C, -x or a crash, as after a normal end."""
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    runs = active_runs(session)
    for run in list(runs):
        run.stop(interrupted=interrupted)
        runs.remove(run)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The last chance: a run that a signal kept from closing in pytest_sessionfinish is stopped here."""
    runs = _open_runs()
    for run in list(runs):
        run.stop(interrupted=True)
        runs.remove(run)
