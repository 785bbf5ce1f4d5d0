"""The run report of a multi-node run (a sender and recorders rec1, rec2): plots, scans, preflight and
environment per node; and that runs on one recorder, new and old format, render as before."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.report import render_acceptance, render_run
from harness.report.results import preflight_groups, run_nodes, scan_row, summarize
from harness.report.series import metrics_by_node
from harness.report.timeline import node_timelines
from tests.report.test_render import assert_offline, copy_run, verdict_of

SINGLE_NODE_FIGURES = ["plot-throughput", "plot-loss", "plot-disks", "plot-processes"]


def figure_ids(html: str) -> list[str]:
    return re.findall(r'<figure id="(plot-[^"]+)"', html)


def between(html: str, start: str, end: str) -> str:
    """The part of the page from the first ``start`` up to the next ``end`` after it."""
    first = html.index(start)
    return html[first:html.index(end, first + len(start))]


def node_plots(html: str, node: str) -> str:
    return between(html, f'id="over-time-{node}"', "</section>")


def scan_cells(html: str) -> list[list[str]]:
    body = between(html, 'id="scan-table"', "</tbody>")
    rows = re.findall(r'<tr class="(?:failed)?">(.*?)</tr>', body, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


@pytest.fixture
def two_node_html(two_nodes: Path, tmp_path: Path) -> str:
    return render_run(copy_run(two_nodes, tmp_path)).read_text()


def test_a_two_node_run_gets_one_plot_set_per_node(two_node_html):
    html = two_node_html
    assert_offline(html)
    per_recorder = [f"plot-{node}-{kind}" for node in ("rec1", "rec2") for kind in ("throughput", "loss", "disks",
                                                                                   "processes")]
    assert figure_ids(html) == [*per_recorder, "plot-sender-processes", "plot-spectrum"]
    assert html.count('<svg class="plot"') == 10  # nine over time and the spectrum
    assert re.findall(r'data-node="([^"]+)"', html) == ["rec1", "rec2", "sender"]
    rec1, rec2 = node_plots(html, "rec1"), node_plots(html, "rec2")
    assert "Recorder node" in rec1 and "Sender node" in node_plots(html, "sender")
    # Each node's own loss, UDP errors and disks: the failed scan lost 37 on rec2 only.
    assert "0 packets lost in the metrics" in rec1 and "37 packets lost in the metrics" in rec2
    assert "37 RcvbufErrors" in rec2 and "0 RcvbufErrors" in rec1
    assert "/srv/vlbi-lab-multinode/rec1" in rec1 and "/srv/vlbi-lab-multinode/rec2" not in rec1
    assert 'aria-label="Throughput: sent vs recorded (node rec2)"' in rec2
    # Recorder CPU and RSS come from the node's probe: the recorder is in the processes legend.
    processes = between(rec1, 'id="plot-rec1-processes"', "</figure>")
    assert ">recorder<" in processes and ">sender<" in processes
    assert "Not plotted" not in html


def test_the_scan_table_names_the_node_that_recorded_and_checked_each_scan(two_node_html):
    html = two_node_html
    header = between(html, 'id="scan-table"', "</thead>")
    assert "<th>node</th><th>checked on</th>" in header
    rows = scan_cells(html)
    assert len(rows) == 8
    assert [(r[0], r[1], r[2]) for r in rows[:2]] == [("two_recorders_001", "rec1", "rec1"),
                                                      ("two_recorders_001", "rec2", "rec2")]
    failed = re.findall(r'<tr class="failed">\s*<td class="code"><a[^>]*>([^<]+)</a></td>\s*<td class="code node">'
                        r"([^<]+)</td>", html)
    assert failed == [("two_recorders_002", "rec2")]
    assert "Findings of two_recorders_002 on rec2" in html
    assert "scans on 2 nodes (1 failed)" in html
    assert verdict_of(html) == "fail"


def test_preflight_checks_stand_under_their_node_with_their_names_as_given(two_node_html):
    html = two_node_html
    tables = {node: between(html, f'id="preflight-{node}"', "</table>") for node in ("sender", "rec1", "rec2", "other")}
    assert html.index('id="preflight-sender"') < html.index('id="preflight-rec1"') < html.index('id="preflight-rec2"')
    assert "rec1 disk /srv/vlbi-lab-multinode/rec1/disk0" in tables["rec1"]
    assert "rec1 disk" not in tables["rec2"] and "rec2 recorder answers version?" in tables["rec2"]
    assert "sender jumbo ping to rec2 (198.18.1.12)" in tables["sender"]
    assert "clock offsets agree" in tables["other"]
    assert 'id="preflight"' not in html


def test_the_environment_has_a_table_per_node_in_the_inventory_order(two_node_html):
    html = two_node_html
    env = html[html.index('id="environment"'):html.index('id="scenario"')]
    assert re.findall(r'<h3 id="node-([^"]+)">', env) == ["sender", "rec1", "rec2"]
    rec1 = between(env, 'id="node-rec1"', '<h3 id="node-rec2"')
    assert "Node rec1 <span class=\"muted\">· recorder</span>" in rec1
    assert "/srv/vlbi-lab-multinode/rec1/disk0" in rec1 and "/srv/vlbi-lab-multinode/rec2" not in rec1
    assert "root@198.18.2.11:22" in rec1 and "clock_sync" in rec1 and "1048587" in rec1
    assert "recorder on rec2</td><td>reference 0.1.0" in html  # the versions table, per node


def test_the_acceptance_report_of_a_two_node_run_names_the_nodes(two_nodes, tmp_path):
    html = render_acceptance(copy_run(two_nodes, tmp_path)).read_text()
    assert verdict_of(html) == "fail"
    assert "<th>node</th><th>checked on</th>" in html
    assert "Findings of two_recorders_002 on rec2" in html


def with_node_fields(run: Path) -> None:
    """The run as a local lab now writes it: scans and metrics lines naming the one node 'recorder'."""
    results = json.loads((run / "results.json").read_text())
    for scan in results["scans"]:
        scan.update(recorder_node="recorder", validated_on="recorder")
    (run / "results.json").write_text(json.dumps(results))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (run / "metrics.jsonl").write_text("".join(json.dumps({**row, "node": "recorder"}) + "\n" for row in lines))


@pytest.mark.parametrize("layout", ["old format", "local lab naming its node"])
def test_a_single_node_run_renders_as_before(runs, tmp_path, layout):
    run = copy_run(runs["failed"], tmp_path)
    if layout != "old format":
        with_node_fields(run)
    html = render_run(run).read_text()
    assert verdict_of(html) == "fail"
    assert figure_ids(html) == [*SINGLE_NODE_FIGURES, "plot-spectrum"]
    assert "data-node=" not in html and "Recorder node" not in html
    assert "<th>node</th>" not in html and "scans on" not in html
    assert 'id="preflight"' in html and 'id="preflight-' not in html
    assert "Findings of meerkat_rate_002</h3>" in html
    assert "/mnt/disk0" in between(html, 'id="plot-disks"', "</figure>")
    assert re.findall(r'<h3 id="node-([^"]+)">', html) == ["recorder", "sender"]


def probe(node: str, **parts: object) -> dict:
    return {"t": 0.0, "node": node, **parts}


def test_metrics_lines_are_grouped_by_node_with_the_probe_filling_what_the_line_lacks():
    rows = [
        {"t": 1.0, "node": "rec2", "recorder": {"packets": 10}, "recorder_node": None},
        {"t": 1.1, "node": "rec1", "recorder": {"packets": 5, "cpu_pct": 50.0},
         "recorder_node": probe("rec1", recorder={"cpu_pct": 20.0, "rss_bytes": 7.0},
                                udp={"RcvbufErrors": 3}, disks={"/srv/rec1/disk0": {"free_bytes": 9.0}}),
         "sender_node": probe("sender", sender={"cpu_pct": 80.0, "rss_bytes": 6.0})},
        {"t": 2.0, "node": "rec2", "recorder": None, "udp": {"RcvbufErrors": 1},
         "recorder_node": probe("rec2", recorder={"cpu_pct": 30.0}, udp={"RcvbufErrors": 99},
                                disks={"/srv/rec2/disk0": {"free_bytes": 4.0}})},
        {"t": 2.1, "node": "rec1", "recorder_node": {"error": "ssh: connection refused"},
         "sender_node": {"error": "timed out"}},
    ]
    metrics = metrics_by_node(rows)
    assert list(metrics.nodes) == ["rec2", "rec1"] and metrics.named_nodes
    rec1, rec2 = metrics.nodes["rec1"], metrics.nodes["rec2"]
    assert rec1.column("recorder_cpu_pct").tolist()[0] == 50.0  # the recorder's own figure wins
    assert rec1.column("recorder_rss_bytes").tolist()[0] == 7.0
    assert rec1.column("udp_rcvbuf_errors").tolist()[0] == 3.0
    assert list(rec1.disks) == ["/srv/rec1/disk0"] and list(rec2.disks) == ["/srv/rec2/disk0"]
    assert rec2.column("udp_rcvbuf_errors").tolist()[1] == 1.0  # top-level UDP, where present, is kept
    assert rec2.column("recorder_cpu_pct").tolist()[1] == 30.0
    assert rec1.source_errors == {"recorder_node": (1, "ssh: connection refused")}
    assert metrics.sender_node is not None and metrics.sender_node_name == "sender"
    assert metrics.sender_node.column("sender_cpu_pct").tolist()[0] == 80.0
    assert metrics.sender_node.source_errors == {"sender_node": (1, "timed out")}
    assert (metrics.samples, metrics.last_t) == (4, 2.1)
    timelines = node_timelines(metrics)
    assert [(t.node, t.role) for t in timelines] == [("rec1", "recorder"), ("rec2", "recorder"), ("sender", "sender")]
    assert ("The recorder node's probe metrics failed in 1 samples (first: ssh: connection refused)."
            in timelines[0].notes)


def test_lines_without_a_node_are_one_node_and_keep_their_figure_keys():
    rows = [{"t": float(k), "sender": {"gbps": 0.5}, "recorder": {"lost": k}, "udp": {"InErrors": k}}
            for k in range(5)]
    metrics = metrics_by_node(rows)
    assert list(metrics.nodes) == ["recorder"] and not metrics.named_nodes and metrics.sender_node is None
    (timeline,) = node_timelines(metrics)
    assert timeline.node == "" and [f.key for f in timeline.figures] == ["throughput", "loss"]
    assert np.nansum(timeline.figures[1].panels[0].lines[0].series.mean) == 4


def test_nodes_come_from_roles_or_from_the_scans_never_from_a_local_lab():
    local = {"environment": {"nodes": {"recorder": {"kernel": "x"}, "sender": {}}},
             "scans": [{"name": "a", "recorder_node": "recorder"}]}
    assert run_nodes(local) == []
    assert run_nodes({"scans": [{"recorder_node": "rec1"}, {"recorder_node": "rec2"}, {}]}) == ["rec1", "rec2"]
    inventory = {"environment": {"nodes": {"snd": {"role": "sender"}, "rec1": {"role": "recorder"}}}}
    assert run_nodes(inventory) == ["snd", "rec1"]
    assert summarize(local).preflight_by_node == []


def test_preflight_groups_take_the_longest_node_name_and_keep_the_order():
    names = ("rec10 disk /a", "rec1 disk /b", "rec1", "sender ping rec10", "lab up")
    checks = summarize({"preflight": [{"name": n, "passed": True} for n in names]}).preflight
    groups = preflight_groups(checks, ["sender", "rec1", "rec10"])
    assert [(g.node, [c.name for c in g.checks]) for g in groups] == [
        ("sender", ["sender ping rec10"]), ("rec1", ["rec1 disk /b"]), ("rec10", ["rec10 disk /a"]),
        ("", ["rec1", "lab up"])]


def test_scans_name_their_recorder_node_and_where_they_were_checked():
    assert (scan_row({"name": "s"}, 0).recorder_node, scan_row({"name": "s"}, 0).validated_on) == ("recorder",
                                                                                                   "recorder")
    row = scan_row({"name": "s", "recorder_node": "rec2", "check": {"validated_on": "rec2"}}, 0)
    assert (row.recorder_node, row.validated_on) == ("rec2", "rec2")
    assert scan_row({"name": "s", "validated": False}, 0).validated_on is None
    assert scan_row({"name": "s", "recorder_node": "rec1", "validated_on": None}, 0).validated_on is None
    two = summarize({"scans": [{"name": "a", "recorder_node": "rec2"}, {"name": "a", "recorder_node": "rec1"},
                               {"name": "b", "recorder_node": "rec2"}]})
    assert two.recorder_nodes == ["rec2", "rec1"] and two.several_recorders
    assert not summarize({"scans": [{"name": "a"}, {"name": "b"}]}).several_recorders


def test_the_two_node_report_without_its_metrics_still_renders_per_node(two_nodes, tmp_path):
    run = copy_run(two_nodes, tmp_path)
    (run / "metrics.jsonl").unlink()
    shutil.rmtree(run / "nodes")
    html = render_run(run).read_text()
    assert "metrics.jsonl is missing" in html and "Not plotted: no metrics samples" in html
    assert 'id="preflight-rec1"' in html and "<th>node</th>" in html
    assert html.count("missing</span>") == 2  # the two recorder logs under nodes/
