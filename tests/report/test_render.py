"""Rendering the reports from generated run folders: content, escaping, offline, bounded, tolerant."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.report import RunFolderError, render_acceptance, render_index, render_run
from harness.report.cli import main
from harness.report.series import MAX_POINTS
from tests.report.runfolders import RunSpec, write_run

TWELVE_HOUR_BOUND = 400_000
"""Bytes: the 12-hour report measured 260 kB (matplotlib 3.11); the bound leaves room for font and layout drift."""


def assert_offline(html: str) -> None:
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert not re.search(r'\s(?:src|href)="(?!#|data:)[a-z]+:', html)  # no scheme in any link or source


def verdict_of(html: str) -> str:
    match = re.search(r'id="verdict" data-verdict="([a-z ]+)"', html)
    assert match, "no verdict block"
    return match.group(1)


def copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


@pytest.mark.parametrize("kind, verdict", [("passed", "pass"), ("failed", "fail"), ("interrupted", "interrupted"),
                                           ("killed", "interrupted"), ("documented", "fail")])
def test_every_kind_of_run_renders_with_its_verdict(runs, tmp_path, kind, verdict):
    report = render_run(copy_run(runs[kind], tmp_path))
    html = report.read_text()
    assert report.name == "report.html"
    assert verdict_of(html) == verdict
    assert_offline(html)
    for section in ("thresholds", "scans", "over-time", "samples", "environment", "scenario", "logs"):
        assert f'id="{section}"' in html
    assert html.count('<svg class="plot"') >= 4


def test_the_failed_run_names_its_breaches_and_shows_the_findings(runs, tmp_path):
    html = render_run(copy_run(runs["failed"], tmp_path)).read_text()
    breached = html[html.index('id="breached"'):html.index("</ul>", html.index('id="breached"'))]
    for name in ("lost_frames", "payload_errors", "rcvbuf_errors", "lost_fraction"):
        assert name in breached
    assert "Findings of meerkat_rate_002" in html
    assert "30 frames missing before frame 1200" in html
    assert "lost_frames 37 &gt; 0" in html  # the scan's own breaches, escaped
    assert 'id="plot-spectrum"' in html and "5.000 MHz" in html  # the tone in thread 1
    assert "off by more than 2 points" not in html  # the failed scan's skewed sampler is not the last noise scan


def test_the_interrupted_run_says_what_is_missing(runs, tmp_path):
    html = render_run(copy_run(runs["interrupted"], tmp_path)).read_text()
    assert "is cut off, as when a run is interrupted" in html
    assert "not checked" in html
    assert 'href="lab.log"' in html and "recorder.log" not in html  # the run wrote no recorder log
    assert "Stopped:</strong> run interrupted" in html


def test_a_killed_run_still_marked_running(runs, tmp_path):
    html = render_run(copy_run(runs["killed"], tmp_path)).read_text()
    assert "still says &#39;running&#39;" in html
    assert "≥" in html and "to the last metrics sample" in html
    assert "No thresholds were evaluated." in html


def test_markup_from_the_run_is_shown_as_text(runs, tmp_path):
    run = copy_run(runs["hostile"], tmp_path)
    for html in (render_run(run).read_text(), render_acceptance(run).read_text(),
                 render_index(tmp_path).read_text()):
        assert_offline(html)
        assert "<img" not in html and "<b>disk</b>" not in html
    report = (run / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report  # the scan name
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in report  # the recorder log's tail
    assert "&lt;img src=x onerror=" in report  # the scenario description
    assert "/mnt/&lt;b&gt;disk&lt;/b&gt;$x_" in report  # a mount point, in a table and in a plot legend


def test_a_twelve_hour_run_gives_a_bounded_report(twelve_hours, tmp_path):
    run = copy_run(twelve_hours, tmp_path)
    with (run / "metrics.jsonl").open() as metrics:
        lines = sum(1 for _ in metrics)
    assert lines == 43_200
    start = time.process_time()  # CPU time: the work the report takes, whatever else the machine is doing
    html = render_run(run).read_text()
    elapsed = time.process_time() - start
    size = len(html.encode())
    assert size < TWELVE_HOUR_BOUND, f"{size:,} bytes"
    assert elapsed < 30, f"{elapsed:.1f} CPU s"
    assert f"43,200 metrics samples, plotted as at most {MAX_POINTS} points per series" in html
    assert 'id="plot-disks"' in html and "/mnt/disk7" in html
    assert_offline(html)
    print(f"12-hour report: {size:,} bytes in {elapsed:.2f} CPU s")


def test_missing_and_broken_inputs_never_crash(tmp_path):
    empty = tmp_path / "smoke-20261121T120000Z"
    empty.mkdir()
    html = render_run(empty).read_text()
    assert verdict_of(html) == "unknown"
    assert "results.json is missing" in html and "metrics.jsonl is missing" in html

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"verdict": "pass", "scans": [')
    (broken / "metrics.jsonl").write_text('{"t": 1}\nnot json\n[1, 2]\n{"t": 2, "sender": 5}\n')
    html = render_run(broken).read_text()
    assert "results.json is not valid JSON (line 1" in html
    assert "2 of 4 lines are not valid JSON" in html

    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "results.json").write_text(json.dumps({"schema": 7, "metrics": "../../etc/passwd",
                                                  "logs": {"evil": "javascript:alert(1)", "up": "../x.log",
                                                           "gone": "recorder.log"}}))
    (odd / "notes.log").write_text("an extra log the engine did not name\n")
    html = render_run(odd).read_text()
    assert "schema 7" in html and "outside the run folder" in html
    assert 'href="javascript' not in html and 'href="../' not in html
    assert html.count("missing</span>") == 3 and 'href="notes.log"' in html


def test_render_refuses_a_path_that_is_not_a_folder(tmp_path):
    with pytest.raises(RunFolderError, match="not a folder"):
        render_run(tmp_path / "nothing")
    with pytest.raises(RunFolderError):
        render_index(tmp_path / "nothing")


def test_the_index_lists_every_run_newest_first_with_a_trend(nightly, tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(nightly, reports, symlinks=True)
    for run in reports.glob("*-2026*"):
        (run / "report.html").write_text("rendered elsewhere")  # the index only links it
    html = render_index(reports).read_text()
    assert_offline(html)
    rows = re.findall(r'<td class="nowrap" title="([^"]+)">', html)
    assert len(rows) == 13  # ten nights and three smoke runs; not `latest`, not the empty folder
    assert rows[0] == "soak_nightly-20261119T190000Z" and rows[-1] == "soak_nightly-20261110T190000Z"
    assert 'id="plot-trend"' in html and html.count('<svg class="plot"') == 1
    assert re.search(r"13 runs: \d+ passed, \d+ failed,\s+0 interrupted", html)
    drifts = [float(d) for d in re.findall(r">([-+]\d\.\d\d) %<", html)]
    assert drifts[0] < -0.5  # the newest night's rate against the median of the seven before it
    assert all(abs(d) < 0.1 for d in drifts[-5:])
    assert 'href="soak_nightly-20261119T190000Z/report.html"' in html


def test_an_empty_reports_folder_gets_an_index(tmp_path):
    html = render_index(tmp_path).read_text()
    assert 'id="no-runs"' in html


def test_the_acceptance_report(runs, tmp_path):
    run = copy_run(runs["failed"], tmp_path)
    page = render_acceptance(run, signer="Thandi <Ops> Nkosi")
    html = page.read_text()
    assert page.name == "acceptance.html"
    assert_offline(html)
    assert verdict_of(html) == "fail"
    assert "Thandi &lt;Ops&gt; Nkosi" in html
    for rid in ("REQ-REC-001", "REQ-REC-002", "REQ-NET-001"):
        assert rid in html
    assert "root@lab-rec1" in html and "2026-11-21 12:00:00 UTC" in html
    assert "recorder (reference)" in html and "6.1.0-27-amd64" in html
    assert "Accepted for operations by" in html and "@media print" in html
    assert "Findings of meerkat_rate_002" in html
    passing = render_acceptance(copy_run(runs["passed"], tmp_path)).read_text()
    assert verdict_of(passing) == "pass" and "3 of 3 requirements passed" in passing
    interrupted = render_acceptance(copy_run(runs["interrupted"], tmp_path)).read_text()
    assert verdict_of(interrupted) == "incomplete"


def test_the_report_links_the_acceptance_report_once_it_exists(runs, tmp_path):
    run = copy_run(runs["passed"], tmp_path)
    assert 'href="acceptance.html"' not in render_run(run).read_text()
    render_acceptance(run)
    assert 'href="acceptance.html"' in render_run(run).read_text()


def test_cli_render_acceptance_and_index(runs, tmp_path, capsys):
    run = copy_run(runs["failed"], tmp_path)
    assert main(["render", str(run), "--acceptance", "--signer", "A. Tester", "--index"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [str(run / "report.html"), str(run / "acceptance.html"), str(tmp_path / "index.html")]
    assert out[3].startswith("verdict: FAIL (lost_frames")
    assert "A. Tester" in (run / "acceptance.html").read_text()
    assert main(["index", str(tmp_path)]) == 0
    assert main(["render", str(tmp_path / "absent")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_rendering_through_the_latest_link_names_the_run_folder(runs, tmp_path):
    run = copy_run(runs["passed"], tmp_path)
    (tmp_path / "latest").symlink_to(run.name)
    html = render_run(tmp_path / "latest").read_text()
    assert f"{run.name} · started" in html
    assert f"Run {run.name}" in render_acceptance(tmp_path / "latest").read_text()
    assert (run / "report.html").is_file() and (run / "acceptance.html").is_file()


def test_the_index_keeps_backends_and_node_sets_apart(two_nodes, tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(two_nodes, reports / two_nodes.name)
    first = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    for day, backend in enumerate(("reference", "jive5ab", "reference", "jive5ab")):
        write_run(reports, RunSpec(scenario="two_recorders", started=first + timedelta(days=day), backend=backend,
                                   seed=day))
    html = render_index(reports).read_text()
    trend = html[html.index('id="plot-trend"'):html.index("</figure>", html.index('id="plot-trend"'))]
    legend = set(re.findall(r">(two_recorders · [^<]+)<", trend))
    assert legend == {"two_recorders · reference", "two_recorders · jive5ab",
                      "two_recorders · reference · rec1+rec2"}
    assert '<td class="nowrap">reference <span class="code">rec1+rec2</span></td>' in html
    assert html.count('<td class="nowrap">jive5ab</td>') == 2
    drifts = re.findall(r'<td class="num(?: bad)?">([-+]\d+\.\d\d %|—)</td>', html)
    assert drifts.count("—") == 3  # the first run of each of the three series has nothing to compare with


def test_the_recorders_own_notes_are_shown_in_its_words(runs, tmp_path):
    """results.json's recorder_notes: a table of every note, its source and whether it meant data lost; a
    run older than them renders without the table."""
    run = copy_run(runs["failed"], tmp_path)
    assert 'id="recorder-notes"' not in render_run(run).read_text()  # an older run: no notes, no table
    results = json.loads((run / "results.json").read_text())
    results["scans"][1]["recorder_notes"] = [
        {"text": "/mnt/disk0 dropped at chunk 7: ENOSPC: <No space>", "source": "error?",
         "kind": "mount_point_dropped", "data_lost": True},
        {"text": "an ordinary line", "source": "log", "kind": "other", "data_lost": False},
        {"source": "log"},  # malformed: skipped
    ]
    (run / "results.json").write_text(json.dumps(results))
    html = render_run(run).read_text()
    table = html[html.index('id="recorder-notes"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr><td>") == 2
    assert "dropped at chunk 7: ENOSPC: &lt;No space&gt;" in table and "mount_point_dropped" in table
    assert '<td class="bad">data lost</td>' in table and "an ordinary line" in table


def test_faults_are_tabled_and_shaded_on_every_plot_over_time(runs, tmp_path):
    run = copy_run(runs["failed"], tmp_path)
    results = json.loads((run / "results.json").read_text())
    first = results["scans"][0]
    start = datetime.fromisoformat(first["started"]).timestamp()
    results["faults"] = [
        {"kind": "loss", "scan": 1, "scan_name": first["name"], "at": 1.0, "duration": 2.0, "start": start + 1,
         "end": start + 3, "mechanism": "nftables netdev ingress on vlbi-rec0 (vlbi_fault_0)",
         "parameters": {"fraction": 0.005}, "injected": {"dropped": 206}, "error": None, "skipped": None,
         "node": "recorder"},
        {"kind": "recorder_kill", "scan": 1, "scan_name": first["name"], "at": 2.0, "duration": 0.0,
         "start": start + 2, "end": start + 2, "mechanism": "SIGKILL to the recorder's process", "parameters": {},
         "injected": {"killed": 1}, "error": None, "skipped": None, "node": "recorder"},
        {"kind": "delay", "scan": 1, "scan_name": first["name"], "at": 1.0, "duration": 1.0, "start": None,
         "end": None, "mechanism": "none on this machine", "parameters": {}, "injected": {}, "error": None,
         "skipped": "delay needs netem: this kernel has no netem qdisc", "node": "recorder"}]
    (run / "results.json").write_text(json.dumps(results))
    html = render_run(run).read_text()
    table = html[html.index('id="fault-table"'):]
    table = table[:table.index("</table>")]
    assert "nftables netdev ingress on vlbi-rec0" in table and ">dropped</span> 206" in table
    assert "not injected: delay needs netem" in table
    plots = html.count("<svg")
    assert plots >= 4 and html.count("loss (scan 1)") == html.count("recorder_kill (scan 1)") >= 4
    assert "delay (scan 1)" not in html.replace(table, "")  # never applied: no band
    plain = render_run(copy_run(runs["failed"], tmp_path / "plain")).read_text()
    assert 'id="fault-table"' not in plain and "loss (scan 1)" not in plain


def test_the_run_report_says_which_recorder_recorded_which_format(tmp_path):
    from harness.report.results import summarize

    run = write_run(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert summarize(results).stream_format == "vdif"  # a run before issue 14 names no format: VDIF
    assert summarize({**results, "sender": {"stream": {"format": "lwa_rbeam"}}}).stream_format == "lwa_rbeam"
    results["recorder"]["stream_format"] = "mark5b"
    (run / "results.json").write_text(json.dumps(results))
    html = render_run(run).read_text()
    assert '<div id="recorded-by"><b>mark5b</b><span>stream recorded by reference (0.1.0)</span></div>' in html
