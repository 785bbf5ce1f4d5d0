"""Run folders of a scenario on an inventory lab: one sender node and several recorder nodes recording at once.

Built from the single-recorder generator in ``runfolders.py``, one recorder at a time, then laid out as
the engine writes a multi-node run: a scan entry per (scan, recorder node) with ``recorder_node`` and
``validated_on``; the environment per node with roles; preflight checks named after their node; logs
under ``nodes/<node>/``; metrics lines of the nodes interleaved, each with its ``node``, UDP, disks and
recorder CPU/RSS only in the node's own probe sample (``recorder_node``), and the sender node's probe
(``sender_node``) on the first node's lines.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tests.report.runfolders import (
    RunSpec,
    metric_rows,
    mount_points,
    results_of,
    scan_entries,
    schedule,
    write_logs,
    write_metrics,
)

LAB_ROOT = "/srv/vlbi-lab-multinode"
SENDER = "sender"


def node_spec(spec: RunSpec, node: str, index: int, failed_node: str | None) -> RunSpec:
    """What one recorder node sees of the run: its own disks, its own noise, the failed scan only if it is the one."""
    return replace(spec, mount_root=f"{LAB_ROOT}/{node}", seed=spec.seed + 101 * index,
                   failed_scan=spec.failed_scan if node == failed_node else None)


def environment_node(role: str, index: int, spec: RunSpec | None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "role": role, "ssh": f"root@198.18.2.{index}:22", "data_address": f"198.18.1.{index}",
        "data_interface": "data0", "harness_version": "0.1.0", "kernel": "Linux 6.1.0-27-amd64 x86_64",
        "cpu": f"AMD EPYC ({2 + index % 3} CPUs)", "interfaces": {"lo": 65536, "mgmt0": 1500, "data0": 9000},
        "clock": {"offset_s": -1e-5 * index, "uncertainty_s": 6e-5, "method": f"ssh exchange with 198.18.2.{index}"},
        "clock_sync": "synchronised (chrony)",
    }
    if spec is not None:
        node["disks"] = [{"mount": m, "fstype": "xfs", "source": f"/dev/loop{i}", "options": "rw,noatime",
                          "size_bytes": 2_080_374_784, "free_bytes": 1_817_276_416}
                         for i, m in enumerate(mount_points(spec))]
        node["sysctls"] = {"net.core.rmem_max": "201326592", "vm.min_free_kbytes": str(1_048_576 + index)}
        node["recorder_version"] = f"{spec.backend} 0.1.0"
    return node


def preflight(nodes: dict[str, RunSpec]) -> list[dict[str, Any]]:
    checks = [{"name": f"{SENDER} reachable over SSH", "passed": True, "detail": "root@198.18.2.1:22"}]
    for i, (node, spec) in enumerate(nodes.items()):
        checks += [{"name": f"{node} reachable over SSH", "passed": True, "detail": ""},
                   *({"name": f"{node} disk {m}", "passed": True, "detail": "xfs"} for m in mount_points(spec)),
                   {"name": f"{node} recorder answers version?", "passed": True, "detail": f"{spec.backend} 0.1.0"}]
        checks.append({"name": f"{SENDER} jumbo ping to {node} (198.18.1.{11 + i})", "passed": True,
                       "detail": "0% packet loss"})
    checks.append({"name": "clock offsets agree", "passed": True, "detail": "within 10 ms"})
    return checks


def probe_sample(row: dict[str, Any], node: str) -> dict[str, Any]:
    """The recorder node's own probe: what the local lab wrote at top level (UDP, disks, recorder CPU/RSS)."""
    recorder = row["recorder"]
    return {"t": row["t"] - 0.3, "node": node,
            "recorder": {"processes": 2, "cpu_pct": recorder.pop("cpu_pct"), "rss_bytes": recorder.pop("rss_bytes")},
            "udp": row.pop("udp"), "disks": row.pop("disks"),
            "nic": {"data0": {"rx_bytes": 0, "rx_packets": 0, "rx_dropped": 0}},
            "udp_since_start": {"RcvbufErrors": 0, "InErrors": 0, "InDatagrams": 0}}


def sender_probe(row: dict[str, Any]) -> dict[str, Any]:
    sending = row["sender"] is not None
    return {"t": row["t"] - 0.4, "node": SENDER,
            "sender": {"processes": 2 if sending else 0, "cpu_pct": 88.0 if sending else 0.0,
                       "rss_bytes": 60_000_000 if sending else 0},
            "udp": {"InDatagrams": 0, "InErrors": 0, "RcvbufErrors": 0}, "disks": {},
            "nic": {"data0": {"tx_bytes": 0, "tx_packets": 0, "tx_dropped": 0}}}


def inventory_rows(rows: list[dict[str, Any]], node: str, index: int) -> list[dict[str, Any]]:
    out = []
    for k, row in enumerate(rows):
        row["t"] = round(row["t"] + 0.002 * index, 3)
        row["node"] = node
        probe = probe_sample(row, node)  # takes UDP, disks and recorder CPU/RSS off the line
        row["recorder_node"] = None if k == 0 else probe  # the first probe answers late
        if index == 0:
            row["sender_node"] = None if k == 0 else sender_probe(row)
        out.append(row)
    return out


def write_multinode_run(root: Path, spec: RunSpec, recorders: tuple[str, ...] = ("rec1", "rec2"),
                        failed_node: str | None = None) -> Path:
    """Write the run folder of ``spec`` run on a sender and ``recorders``; ``spec.failed_scan`` fails on
    ``failed_node`` only. Returns its path."""
    run_dir = root / spec.folder_name
    run_dir.mkdir(parents=True, exist_ok=True)
    windows, stop_at = schedule(spec)
    specs = {node: node_spec(spec, node, i, failed_node) for i, node in enumerate(recorders)}
    scans: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for index, (node, one) in enumerate(specs.items()):
        rng = np.random.default_rng(one.seed)
        for scan in scan_entries(one, windows, stop_at, rng):
            scan.update(recorder_node=node, validated_on=node if scan["validated"] else None)
            scans.append(scan)
        rows += inventory_rows(metric_rows(one, windows, stop_at, rng), node, index)
    scans.sort(key=lambda s: (s["started"], s["recorder_node"]))
    rows.sort(key=lambda r: r["t"])
    results = results_of(spec, scans, stop_at)
    results["environment"] = {
        "nodes": {SENDER: environment_node("sender", 1, None),
                  **{node: environment_node("recorder", 11 + i, one) for i, (node, one) in enumerate(specs.items())}},
        "lab": "ansible/inventory/multinode.yml",
    }
    results["preflight"] = preflight(specs)
    results["logs"] = {"lab": "lab.log",
                       **{f"{SENDER}-{node}": f"{SENDER}-{node}.log" for node in recorders},
                       **{f"{node} recorder": f"nodes/{node}/recorder.log" for node in recorders}}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    write_metrics(run_dir / "metrics.jsonl", spec, rows)
    write_logs(run_dir, replace(spec, write_logs=("lab",)), [])
    for node in recorders:
        (run_dir / f"{SENDER}-{node}.log").write_text(f"vdif-send to {node}\n")
        (run_dir / "nodes" / node).mkdir(parents=True, exist_ok=True)
        (run_dir / "nodes" / node / "recorder.log").write_text(f"recorder on {node}\n")
    return run_dir
