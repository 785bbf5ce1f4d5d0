"""Run folders generated once per session for the report tests (never under the repository's reports/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.report.multinode import write_multinode_run
from tests.report.runfolders import RunSpec, twelve_hour_spec, write_run


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per kind of run the report must handle."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "passed": write_run(root, RunSpec(scenario="smoke", noise_scans=(3,))),
        "failed": write_run(root, RunSpec(scenario="meerkat_rate", failed_scan=1)),
        "interrupted": write_run(root, RunSpec(scenario="soak_short", interrupted_during=2,
                                               write_logs=("sender", "lab"))),
        "killed": write_run(root, RunSpec(scenario="killed", killed=True)),
        "documented": write_run(root, RunSpec(scenario="documented", metrics_shape="documented", failed_scan=2)),
        "hostile": write_run(root, RunSpec(scenario="hostile", hostile=True, failed_scan=0)),
    }


@pytest.fixture(scope="session")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run on an inventory lab: a sender and recorders rec1 and rec2; the second scan fails on rec2 only."""
    return write_multinode_run(tmp_path_factory.mktemp("multinode"),
                               RunSpec(scenario="two_recorders", failed_scan=1, noise_scans=(3,)), failed_node="rec2")


@pytest.fixture(scope="session")
def twelve_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-hour soak: 43 200 metrics lines at a 1 s period, 8 mount points, one failed scan."""
    return write_run(tmp_path_factory.mktemp("soak"), twelve_hour_spec())


@pytest.fixture(scope="session")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder with ten nights of a soak whose rate drifts down, a failed night, smoke runs, `latest`."""
    root = tmp_path_factory.mktemp("reports")
    first = datetime(2026, 11, 10, 19, 0, tzinfo=UTC)
    for night in range(10):
        write_run(root, RunSpec(scenario="soak_nightly", started=first + timedelta(days=night), scans=3, scan_s=20.0,
                                gap_s=5.0, mounts=2, failed_scan=1 if night == 6 else None, seed=night,
                                rate_factor=1.0 - 0.0025 * max(0, night - 5)))
    for day in (2, 5, 9):
        last = write_run(root, RunSpec(scenario="smoke", started=first + timedelta(days=day, hours=-8), seed=day))
    (root / "latest").symlink_to(last.name)
    (root / "not-a-run").mkdir()
    return root
