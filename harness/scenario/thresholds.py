"""Pass/fail from the scenario's thresholds: per scan and over the whole run (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.frame_counts import JUDGED
from harness.scenario.outcome import ScanOutcome
from harness.scenario.schema import Thresholds


@dataclass(frozen=True)
class ThresholdResult:
    name: str
    limit: float
    value: float | None
    passed: bool
    unit: str = ""
    detail: str = ""

    @property
    def op(self) -> str:
        """How the value is held against the limit: lower limits are the ``min_*`` thresholds."""
        return ">=" if self.name.startswith("min_") else "<="

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "op": self.op}

    def describe(self) -> str:
        return f"{self.name} {self.value} (limit {self.op} {self.limit}{' ' + self.unit if self.unit else ''})"


def scan_breaches(thresholds: Thresholds, scan: ScanOutcome) -> list[str]:
    """The count and rate thresholds this scan alone breaches, as one-line texts."""
    found = []
    counts = scan.counts()
    for count in JUDGED:
        limit = getattr(thresholds, count.name)
        value = counts[count.name]
        if limit is not None and value > limit:
            found.append(f"{count.name} {value} > {limit}")
    if thresholds.lost_fraction is not None and scan.frames_sent:
        fraction = scan.lost_frames / scan.frames_sent
        if fraction > thresholds.lost_fraction:
            found.append(f"lost_fraction {fraction:.3g} > {thresholds.lost_fraction:g}")
    if thresholds.min_rate_fraction is not None and scan.nominal_gbps and not scan.interrupted:
        fraction = scan.rate_gbps / scan.nominal_gbps
        if fraction < thresholds.min_rate_fraction:
            found.append(f"rate {fraction:.4f} of nominal < {thresholds.min_rate_fraction:g}")
    return found


def evaluate(
    thresholds: Thresholds, scans: Sequence[ScanOutcome], *, rcvbuf_errors: int | None,
    min_disk_free: int | None,
) -> list[ThresholdResult]:
    """Every configured threshold over the run: totals for counts, worst scan for rate, lowest free space."""
    results = []
    validated = [s for s in scans if s.validated]
    for count in JUDGED:
        limit = getattr(thresholds, count.name)
        if limit is not None:
            value = sum(s.counts()[count.name] for s in validated)
            results.append(ThresholdResult(count.name, limit, value, value <= limit, "frames"))
    sent = sum(s.frames_sent or 0 for s in validated)
    if thresholds.lost_fraction is not None:
        lost = sum(s.lost_frames for s in validated)
        fraction = lost / sent if sent else 0.0
        results.append(ThresholdResult("lost_fraction", thresholds.lost_fraction, fraction,
                                       fraction <= thresholds.lost_fraction))
    if thresholds.min_rate_fraction is not None:
        rated = [s.rate_gbps / s.nominal_gbps for s in validated if s.nominal_gbps and not s.interrupted]
        worst = min(rated) if rated else None
        no_rate = bool(scans) and not any(s.nominal_gbps for s in scans)  # external source: no nominal rate
        results.append(ThresholdResult("min_rate_fraction", thresholds.min_rate_fraction,
                                       None if worst is None else round(worst, 6),
                                       no_rate or (worst is not None and worst >= thresholds.min_rate_fraction),
                                       detail="not judged: no nominal rate (external source)" if no_rate
                                       else "worst scan's recorded rate over nominal"))
    if thresholds.min_disk_free is not None:
        results.append(ThresholdResult("min_disk_free", thresholds.min_disk_free, min_disk_free,
                                       min_disk_free is not None and min_disk_free >= thresholds.min_disk_free,
                                       "bytes", "lowest free space seen on any mount point"))
    if thresholds.rcvbuf_errors is not None:
        results.append(ThresholdResult("rcvbuf_errors", thresholds.rcvbuf_errors, rcvbuf_errors,
                                       rcvbuf_errors is not None and rcvbuf_errors <= thresholds.rcvbuf_errors,
                                       "datagrams", "kernel UDP RcvbufErrors on the recorder node during the run"))
    problems = [s for s in scans if s.problems or s.stopped_early]
    results.append(ThresholdResult("scans_completed", 0, len(problems), not problems, "scans",
                                   "scans with recorder or checker failures"))
    return results
