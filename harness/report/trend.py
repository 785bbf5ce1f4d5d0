"""The index's plain values: one entry per run, newest first, and the drift of a nightly series.

Pure: built from each run's results.json (already parsed) so the ordering, headline figures and
drift are tested with plain dictionaries.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.report.results import DEFAULT_NODE, RunSummary, as_list, as_mapping, as_text, summarize

DRIFT_WINDOW = 7
"""A run's achieved rate is compared with the median of this many earlier runs of the same series
(scenario, recorder backend and recorder nodes)."""
DRIFT_FLAG = 0.01
"""A rate more than 1 % below that median is flagged."""
FOLDER_TIME = re.compile(r"(\d{8}T\d{6})Z?$")
UNKNOWN_BACKEND = "?"
"""The backend of a run whose results.json does not name it."""


@dataclass
class RunEntry:
    folder: str
    scenario: str
    verdict: str
    started: datetime | None
    duration_s: float | None
    scans: int
    failed_scans: int
    frames_sent: float | None
    lost: float | None
    achieved_gbps: float | None
    nominal_gbps: float | None
    breached: list[str]
    has_report: bool = False
    has_acceptance: bool = False
    problems: list[str] = field(default_factory=list)
    rate_drift: float | None = None  # relative to the median of earlier runs of the same series
    backend: str = UNKNOWN_BACKEND  # results.json recorder.backend
    nodes: str = DEFAULT_NODE  # the recorder nodes, sorted and joined with '+'

    @property
    def loss_fraction(self) -> float | None:
        if self.lost is None or not self.frames_sent:
            return None
        return self.lost / self.frames_sent

    @property
    def series(self) -> tuple[str, str, str]:
        """What keeps runs apart in the trend and the drift: scenario, recorder backend, recorder nodes."""
        return (self.scenario, self.backend, self.nodes)


def folder_time(name: str) -> datetime | None:
    """The UTC time in a run folder's name (``smoke-20261121T120000Z``), if it has one."""
    match = FOLDER_TIME.search(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def backend_of(results: Mapping[str, Any] | None) -> str:
    return as_text(as_mapping(as_mapping(results).get("recorder")).get("backend")) or UNKNOWN_BACKEND


def recorder_nodes_of(results: Mapping[str, Any] | None) -> str:
    """The recorder nodes of a run: from its scans, else its environment's recorder nodes, else 'recorder'."""
    r = as_mapping(results)
    nodes = {as_text(as_mapping(scan).get("recorder_node")) or DEFAULT_NODE for scan in as_list(r.get("scans"))}
    if not nodes:
        env_nodes = as_mapping(as_mapping(r.get("environment")).get("nodes"))
        nodes = {str(name) for name, node in env_nodes.items() if as_mapping(node).get("role") == "recorder"}
    return "+".join(sorted(nodes)) or DEFAULT_NODE


def series_label(scenario: str, backend: str, nodes: str) -> str:
    """``smoke · jive5ab``, ``two_recorders · reference · rec1+rec2``: the recorder nodes only where named."""
    return " · ".join([scenario, backend] + ([nodes] if nodes != DEFAULT_NODE else []))


def entry_of(folder: str, results: Mapping[str, Any] | None, problems: Sequence[str] = (),
             has_report: bool = False, has_acceptance: bool = False) -> RunEntry:
    summary: RunSummary = summarize(results)
    scenario = summary.scenario
    if results is None:
        scenario = FOLDER_TIME.sub("", folder).rstrip("-_") or folder
    return RunEntry(
        folder=folder, scenario=scenario, verdict=summary.verdict,
        started=summary.started or folder_time(folder), duration_s=summary.duration_s,
        scans=len(summary.scans), failed_scans=len(summary.failed_scans),
        frames_sent=summary.total("frames_sent"), lost=summary.total("lost"),
        achieved_gbps=summary.achieved_gbps, nominal_gbps=summary.nominal_gbps, breached=summary.breached,
        has_report=has_report, has_acceptance=has_acceptance, problems=[*problems, *summary.problems],
        backend=backend_of(results), nodes=recorder_nodes_of(results),
    )


def _sort_key(entry: RunEntry) -> tuple[float, str]:
    return (entry.started.timestamp() if entry.started else float("-inf"), entry.folder)


def newest_first(entries: Sequence[RunEntry]) -> list[RunEntry]:
    """Runs newest first; runs with no known time last; ties broken by folder name."""
    return sorted(entries, key=_sort_key, reverse=True)


def mark_drift(entries: Sequence[RunEntry], window: int = DRIFT_WINDOW) -> None:
    """Set each run's ``rate_drift`` against the median achieved rate of the previous runs of its series."""
    history: dict[tuple[str, str, str], list[float]] = {}
    for entry in sorted(entries, key=_sort_key):
        earlier = history.setdefault(entry.series, [])
        if entry.achieved_gbps is not None:
            if earlier:
                reference = statistics.median(earlier[-window:])
                entry.rate_drift = (entry.achieved_gbps - reference) / reference if reference else None
            earlier.append(entry.achieved_gbps)


@dataclass(frozen=True)
class TrendSeries:
    """The runs of one scenario on one recorder backend and set of recorder nodes, in time order."""

    scenario: str
    started: list[datetime]
    lost: list[float | None]
    achieved_gbps: list[float | None]
    duration_h: list[float | None]
    verdicts: list[str]
    backend: str = UNKNOWN_BACKEND
    nodes: str = DEFAULT_NODE

    @property
    def label(self) -> str:
        return series_label(self.scenario, self.backend, self.nodes)


def trend_series(entries: Sequence[RunEntry], max_runs: int) -> list[TrendSeries]:
    """Per series (scenario, backend, recorder nodes), the last ``max_runs`` runs (of all together) that have a
    start time."""
    dated = sorted((e for e in entries if e.started is not None), key=_sort_key)[-max_runs:]
    out = []
    for scenario, backend, nodes in sorted({e.series for e in dated}):
        runs = [e for e in dated if e.series == (scenario, backend, nodes)]
        out.append(TrendSeries(
            scenario=scenario, backend=backend, nodes=nodes,
            started=[e.started for e in runs if e.started is not None],
            lost=[e.lost for e in runs],
            achieved_gbps=[e.achieved_gbps for e in runs],
            duration_h=[e.duration_s / 3600 if e.duration_s is not None else None for e in runs],
            verdicts=[e.verdict for e in runs],
        ))
    return out


def verdict_counts(entries: Sequence[RunEntry]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "interrupted": 0, "unknown": 0}
    for e in entries:
        counts[e.verdict if e.verdict in counts else "unknown"] += 1
    return counts
