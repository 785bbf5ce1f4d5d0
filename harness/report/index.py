"""``render_index``: reports/index.html, every run newest first with the trend across runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from harness.report.plots import trend_svg
from harness.report.results import DEFAULT_NODE
from harness.report.run_folder import METRICS, RESULTS, RunFolderError, read_results
from harness.report.run_report import ACCEPTANCE, REPORT
from harness.report.templates import render_page, write_page
from harness.report.trend import (
    DRIFT_FLAG,
    DRIFT_WINDOW,
    RunEntry,
    entry_of,
    mark_drift,
    newest_first,
    trend_series,
    verdict_counts,
)

INDEX = "index.html"
MAX_TREND_RUNS = 200
"""The trend plots show the latest this many runs; the table lists every run."""


def is_run_folder(path: Path) -> bool:
    """A folder a run wrote into (the ``latest`` symlink and other links are skipped: no run twice)."""
    if path.is_symlink() or not path.is_dir() or path.name.startswith("."):
        return False
    return any((path / name).exists() for name in (RESULTS, METRICS, REPORT))


def collect_runs(reports_dir: Path) -> list[RunEntry]:
    entries = []
    for path in sorted(p for p in reports_dir.iterdir() if is_run_folder(p)):
        problems: list[str] = []
        results = read_results(path, problems)
        entries.append(entry_of(path.name, results, problems, has_report=(path / REPORT).is_file(),
                                has_acceptance=(path / ACCEPTANCE).is_file()))
    mark_drift(entries)
    return newest_first(entries)


def render_index(reports_dir: Path) -> Path:
    """Write ``reports_dir/index.html`` listing every run folder in it, with trend plots."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise RunFolderError(reports_dir, "not a folder")
    entries = collect_runs(reports_dir)
    series = trend_series(entries, MAX_TREND_RUNS)
    html = render_page(
        "index.html.j2",
        entries=entries,
        hrefs={e.folder: quote(e.folder) for e in entries},
        counts=verdict_counts(entries),
        trend=trend_svg(series),
        trend_runs=min(len(entries), MAX_TREND_RUNS),
        max_trend_runs=MAX_TREND_RUNS,
        reports_dir=reports_dir.resolve().name,
        generated=datetime.now(UTC),
        report_name=REPORT,
        acceptance_name=ACCEPTANCE,
        drift_flag=DRIFT_FLAG,
        drift_window=DRIFT_WINDOW,
        default_node=DEFAULT_NODE,
    )
    return write_page(reports_dir / INDEX, html)
