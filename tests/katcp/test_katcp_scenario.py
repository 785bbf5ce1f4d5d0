"""Scenario runs through the KATCP path, as a user runs them (pytest on a scenario file, loopback lab):
clean through our own proxy, then attached to the misbehaving proxy, which must fail with one finding per
defect, each naming its request or sensor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_udp_port
from tests.katcp.conftest import FPS, MODE, THREADS

SCENARIO = """\
name: {name}
stream:
  mode: {mode}
  threads: {threads}
  station: Mk
  payload: pattern
  udps: true
  port: {port}
recorder:
  backend: katcp
  workbuf: 1M
{recorder}schedule:
  scans: 2
  scan_length: 2s
  gap: 0.5s
  scan_name: "{name}_{{n:03d}}"
thresholds:
  lost_frames: 0
metrics_period: 0.5s
"""


def run(tmp_path: Path, text: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    scenario = tmp_path / "katcp_e2e.yaml"
    scenario.write_text(text)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(scenario), "--lab", "none",
                           "--reports", str(tmp_path / "reports"), *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "VLBI_DISKS_DIR": str(tmp_path)})
    return done, json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())


def test_two_capture_blocks_through_our_proxy(tmp_path):
    done, results = run(tmp_path, SCENARIO.format(name="katcp_e2e", mode=MODE, threads=THREADS,
                                                  port=free_udp_port(), recorder=""))
    assert done.returncode == 0, done.stdout[-3000:]
    assert results["verdict"] == "pass" and results["recorder"]["backend"] == "katcp"
    assert results["recorder"]["version"].startswith("vdif-katcp-proxy-1.0 in front of vdif-record")
    blocks = [scan["capture_block"] for scan in results["scans"]]
    assert all(re.fullmatch(r"\d{10}", b) for b in blocks) and blocks[0] < blocks[1]
    for scan in results["scans"]:
        assert scan["valid_frames"] == scan["frames_sent"] == 2 * FPS * THREADS and scan["problems"] == []
        assert scan["recorder_stats"]["replies"]["?capture-done"].endswith(
            f"/{scan['capture_block']}/{scan['capture_block']}_vdif")
        assert scan["check"]["source"]["chunks"], scan["check"]["source"]
    run_dir = (tmp_path / "reports" / "latest").resolve()
    samples = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    capturing = [s for s in samples if (s.get("sensors") or {}).get("capture-block-state") == "capturing"]
    assert capturing and all(s["sensors"]["device-status"] == "ok" for s in capturing)
    assert "The KATCP proxy&#39;s sensors" in (run_dir / "report.html").read_text() or \
        "The KATCP proxy's sensors" in (run_dir / "report.html").read_text()
    assert "?capture-init" in (run_dir / "katcp-control.log").read_text()


def test_attached_to_a_misbehaving_proxy_one_finding_per_defect(tmp_path, proxy_factory, recorder, product_root):
    proxy = proxy_factory("misbehaving", "lie-bytes,keep-writing,refuse-second,hang-sensor")
    attached = (f"  control: {proxy.control}\n  vsis: {recorder.control_address}\n"
                f"  product_root: {product_root}\n  mount_points: [{product_root}]\n")
    done, results = run(tmp_path, SCENARIO.format(name="katcp_bad", mode=MODE, threads=THREADS,
                                                  port=recorder.config.data_port, recorder=attached))
    assert done.returncode != 0 and results["verdict"] == "fail"
    first, second = results["scans"]
    assert len(first["problems"]) == 3, first["problems"]
    lie, unfinished, timeout = (next(p for p in first["problems"] if key in p) for key in
                                ("sensor disk-bytes-total", "product left unfinished", "no reply to ?sensor-value"))
    assert "?capture-done" in unfinished and first["validated"] and first["valid_frames"] == first["frames_sent"]
    assert len(second["problems"]) == 1 and second["problems"][0].startswith(
        f"recorder refused to start katcp_bad_002: RequestFailed: katcp: ?capture-init {second['capture_block']} "
        "answered fail: refused on purpose by the misbehaving proxy")
    assert "reply '!capture-init fail refused on purpose" in second["problems"][0]
    assert lie.startswith("sensor disk-bytes-total = ") and timeout.startswith("no reply to ?sensor-value within 5 s")
    assert "refused on purpose" in done.stdout and "disk-bytes-total" in done.stdout
