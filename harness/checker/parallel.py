"""Checking several recordings at once, one worker process each (multi-disk recorders, many scans).

A check is CPU-bound numpy over page-cached or disk data, so processes (not threads) give each
recording its own core; the arguments and results are plain picklable values.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from harness.checker.check import check_files, check_mark6, check_scan
from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.result import CheckResult


@dataclass(frozen=True)
class CheckJob:
    """One recording: ``kind`` is ``files`` (``paths``), ``scan`` or ``mark6`` (``name`` over ``disks``)."""

    kind: str
    name: str = ""
    disks: str = ""
    paths: tuple[str, ...] = ()
    expect: Expectation = field(default_factory=Expectation)

    def run(self) -> CheckResult:
        if self.kind == "files":
            return check_files(list(self.paths), self.expect)
        if self.kind == "scan":
            return check_scan(self.name, self.disks, self.expect)
        if self.kind == "mark6":
            return check_mark6(self.name, self.disks, self.expect)
        raise CheckerError(None, f"unknown kind of recording {self.kind!r}")


def _run(job: CheckJob) -> CheckResult | CheckerError:
    try:
        return job.run()
    except CheckerError as exc:
        return exc


def check_many(jobs: Sequence[CheckJob], processes: int | None = None) -> list[CheckResult | CheckerError]:
    """Check each job in a worker process; results (or the CheckerError of an unreadable one) in job order."""
    if not jobs:
        return []
    if processes == 1 or len(jobs) == 1:
        return [_run(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        return list(pool.map(_run, jobs))
