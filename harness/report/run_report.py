"""``render_run``: a run folder to its self-contained report.html."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report.environment import environment_of
from harness.report.loss_profile import MAX_PROFILE_FIGURES, lossy, scan_profiles
from harness.report.plots import spectrum_svg, time_figure_svg
from harness.report.profile_plots import profile_overview_svg, scan_profile_svg
from harness.report.results import RunSummary, ThresholdRow, as_mapping, as_text, summarize
from harness.report.run_folder import METRICS, RunFolder, load_run
from harness.report.series import MAX_POINTS
from harness.report.statistics import OPTIMAL_2BIT, last_statistics
from harness.report.templates import render_page, write_page
from harness.report.timeline import Timeline, bands_for, fault_bands, format_seconds, node_timelines

REPORT = "report.html"
ACCEPTANCE = "acceptance.html"


def breached_rows(summary: RunSummary) -> list[tuple[str, ThresholdRow | None]]:
    by_name = {t.name: t for t in summary.thresholds}
    return [(name, by_name.get(name)) for name in summary.breached]


def reduction_note(folder: RunFolder, timelines: list[Timeline]) -> str:
    samples = folder.metrics.samples if folder.metrics is not None else 0
    widths = {line.series.bucket_s for tl in timelines for f in tl.figures for p in f.panels for line in p.lines}
    widths.discard(None)
    if not samples:
        return ""
    if not widths:
        return f"All {samples:,} metrics samples are plotted."
    width = max(w for w in widths if w is not None)
    return (f"{samples:,} metrics samples, plotted as at most {MAX_POINTS} points per series "
            f"(buckets of {format_seconds(width)}); the full data is in the run's metrics file.")


def least_duration(summary: RunSummary, folder: RunFolder) -> float | None:
    """For a run without a finish time: how long it ran at least, up to its last metrics sample."""
    last = folder.metrics.last_t if folder.metrics is not None else None
    if summary.duration_s is not None or summary.started is None or last is None:
        return None
    return max(0.0, last - summary.started.timestamp())


def scenario_of(results: dict[str, Any] | None) -> dict[str, str]:
    scenario = as_mapping(as_mapping(results).get("scenario"))
    return {key: as_text(scenario.get(key)) or "" for key in ("name", "file", "description", "text")}


def profile_context(folder: RunFolder) -> dict[str, Any]:
    """The per-second loss profiles: how many scans carry one, the overview, and a figure per scan with loss."""
    profiles = scan_profiles(as_mapping(folder.results).get("scans") or [], folder.metrics)
    shown = lossy(profiles)
    return {
        "profiled": len(profiles),
        "profile_lossy": sum(1 for p in profiles if p.short_frames),
        "profile_overview_svg": profile_overview_svg(profiles) if shown else None,
        "profile_figures": [(p, scan_profile_svg(p, f"loss-profile-{i}")) for i, p in enumerate(shown)],
        "profile_limit": MAX_PROFILE_FIGURES,
    }


def run_context(folder: RunFolder) -> dict[str, Any]:
    """Everything run.html.j2 shows, from one loaded run folder."""
    summary = summarize(folder.results)
    timelines = node_timelines(folder.metrics, summary.nominal_gbps)
    faults = as_mapping(folder.results).get("faults") or []
    bands = fault_bands(faults)
    stats = last_statistics(as_mapping(folder.results).get("scans") or [])
    problems = folder.problems + summary.problems
    return {
        "run_name": folder.path.resolve().name,  # the run folder, also when reached through `latest`
        "s": summary,
        "breached_rows": breached_rows(summary),
        "problems": problems,
        "timelines": [(timeline, [(f, time_figure_svg(f, bands_for(bands, timeline))) for f in timeline.figures])
                      for timeline in timelines],
        "faults": [f for f in faults if isinstance(f, dict)] if isinstance(faults, list) else [],
        "reduction_note": reduction_note(folder, timelines),
        "least_duration_s": least_duration(summary, folder),
        "stats": stats,
        "spectrum_svg": spectrum_svg(stats) if stats else None,
        "optimal": OPTIMAL_2BIT,
        "env": environment_of(folder.results),
        "scenario": scenario_of(folder.results),
        "logs": folder.logs,
        "metrics_name": as_text(as_mapping(folder.results).get("metrics")) or METRICS,
        "acceptance_href": ACCEPTANCE if (folder.path / ACCEPTANCE).is_file() else None,
        "generated": datetime.now(UTC),
        **profile_context(folder),
    }


def render_run(run_dir: Path) -> Path:
    """Write ``run_dir/report.html``: verdict, thresholds, scans, plots, statistics, environment, logs.

    Works on a partial folder (interrupted run, missing files) and says what is missing.
    """
    run_dir = Path(run_dir)
    folder = load_run(run_dir)
    html = render_page("run.html.j2", **run_context(folder))
    return write_page(run_dir / REPORT, html)
