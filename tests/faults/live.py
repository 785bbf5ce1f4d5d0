"""What the live fault tests share: the local lab for a module, a scenario run in a pytest of its own, and
the kernel's view of faults still in force (nftables tables, the sender's qdiscs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab import lab_down, lab_status, lab_up

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    was_up = lab_status().state == "up"
    log = tmp_path_factory.mktemp("lab") / "lab.log"
    try:
        lab_up(inventory="ansible/inventory/local.yml", log=log, disks=2, disk_size="12G")
        yield
    finally:
        if not was_up:
            lab_down(log=log)


@pytest.fixture
def recordings_removed(local_lab: None) -> Iterator[None]:
    """Each test's scans taken off the lab's disks after it: a module's runs would otherwise fill them (the
    preflight refuses a run the disks have no room for)."""
    yield
    info = lab_status().info
    for mount in info.mount_points if info is not None else []:
        for scan in Path(mount).glob("fault*"):
            shutil.rmtree(scan, ignore_errors=True)


def nft_fault_tables() -> list[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "vlbi_fault_" in line]


def sender_qdiscs() -> str:
    return subprocess.run(["tc", "-n", "vlbi-sender", "qdisc", "show", "dev", "vlbi-snd0"], capture_output=True,
                          text=True, check=False).stdout


def results(reports: Path) -> dict[str, Any]:
    return dict(json.loads((reports / "latest" / "results.json").read_text()))


def run(scenario: Path, reports: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "local",
                           "--reports", str(reports), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def by_kind(found: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each kind's fault (one of each) and the scan it was injected in."""
    scans = {s["name"]: s for s in found["scans"]}
    return {f["kind"]: (f, scans[f["scan_name"]]) for f in found["faults"]}


def only(problems: list[str], *patterns: str) -> None:
    """Each problem matches one of the patterns, and each pattern matches a problem: nothing else is reported."""
    for problem in problems:
        assert any(re.search(p, problem) for p in patterns), f"unexpected finding: {problem!r} (all: {problems})"
    for pattern in patterns:
        assert any(re.search(pattern, p) for p in problems), f"missing finding {pattern!r} in {problems}"
