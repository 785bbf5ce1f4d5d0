"""``render_acceptance``: the operations handover report of one run.

Each requirement the scenario names, with its text and the evidence that decides it: the
thresholds it lists (or, where it lists none, every threshold and scan of the run). A requirement
of an interrupted run is never shown as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.report.environment import environment_of
from harness.report.results import Requirement, RunSummary, ScanRow, ThresholdRow, summarize
from harness.report.run_folder import RunFolderError, load_run
from harness.report.run_report import ACCEPTANCE, REPORT, scenario_of
from harness.report.templates import render_page, write_page


@dataclass(frozen=True)
class RequirementResult:
    id: str
    text: str
    status: str  # pass | fail | incomplete | no evidence
    thresholds: list[ThresholdRow]
    scans: list[ScanRow]
    notes: list[str]

    @property
    def failed_scans(self) -> list[ScanRow]:
        return [s for s in self.scans if s.passed is False]


WHOLE_RUN = Requirement("run", "The scenario's thresholds, over every scan of the run", (), ())


def requirement_result(req: Requirement, summary: RunSummary) -> RequirementResult:
    """The status of one requirement and the evidence that decides it."""
    notes: list[str] = []
    by_name = {t.name: t for t in summary.thresholds}
    if req.thresholds:
        thresholds = [by_name[n] for n in req.thresholds if n in by_name]
        notes += [f"threshold {n} was not evaluated" for n in req.thresholds if n not in by_name]
    else:
        thresholds = list(summary.thresholds)
    # Scans are evidence where the requirement names them, or names nothing (then the whole run decides).
    if req.scans:
        scans = [s for s in summary.scans if s.name in req.scans]
        recorded = {s.name for s in summary.scans}
        notes += [f"scan {n} was not recorded" for n in req.scans if n not in recorded]
    else:
        scans = [] if req.thresholds else list(summary.scans)
    failed = any(t.passed is False for t in thresholds) or any(s.passed is False for s in scans)
    evaluated = [t for t in thresholds if t.passed is not None]
    if summary.failed_preflight:
        notes.append("preflight failed (" + ", ".join(c.name for c in summary.failed_preflight) + ")")
    if not summary.scans:
        notes.append("the run recorded no scans")
    if failed:
        status = "fail"
    elif notes or not (evaluated or scans):
        status = "no evidence"
    elif summary.verdict == "interrupted":
        status = "incomplete"
        notes.append("the run was interrupted, so this requirement was not shown over the whole scenario")
    elif summary.verdict == "unknown" or any(t.passed is None for t in thresholds):
        status = "no evidence"
    else:
        status = "pass"
    return RequirementResult(req.id, req.text, status, thresholds, scans, notes)


def acceptance_results(summary: RunSummary) -> list[RequirementResult]:
    requirements = summary.requirements or [WHOLE_RUN]
    return [requirement_result(r, summary) for r in requirements]


def overall(results: list[RequirementResult]) -> str:
    """'accepted' only if every requirement passed."""
    statuses = {r.status for r in results}
    if statuses == {"pass"}:
        return "pass"
    if "fail" in statuses:
        return "fail"
    return "incomplete"


def render_acceptance(run_dir: Path, signer: str | None = None) -> Path:
    """Write ``run_dir/acceptance.html``: requirements with evidence, who ran it and when, versions, sign-off.

    ``signer`` is printed in the sign-off block as the person signing for the tests; the other lines
    stay blank for a pen (the page prints to PDF from the browser, A4).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(run_dir, "not a folder")
    folder = load_run(run_dir, with_metrics=False)
    summary = summarize(folder.results)
    results = acceptance_results(summary)
    env = environment_of(folder.results)
    html = render_page(
        "acceptance.html.j2",
        run_name=run_dir.resolve().name,
        s=summary,
        results=results,
        overall=overall(results),
        passed=sum(r.status == "pass" for r in results),
        named_requirements=bool(summary.requirements),
        env=env,
        scenario=scenario_of(folder.results),
        problems=folder.problems + summary.problems,
        signer=signer or "",
        report_href=REPORT if (run_dir / REPORT).is_file() else None,
        generated=datetime.now(UTC),
    )
    return write_page(run_dir / ACCEPTANCE, html)
