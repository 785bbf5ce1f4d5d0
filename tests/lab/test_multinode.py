"""The multi-node lab on this machine (inventory/multinode.yml), for real (root): up through the same roles,
idempotent, a two-recorder scenario validated on its nodes with a node lost mid-run (one run), and down without
leftovers.

One bring-up serves the module. A lab that was up before these tests is reused and left up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.lab.inventory import read_inventory
from harness.lab.local import lab_down, lab_status
from harness.lab.netns import provision_lab
from harness.lab.state import MULTINODE_WORK_DIR
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.root,
    pytest.mark.serial,  # the machine's one multi-node lab: its namespaces, switch and addresses by fixed names
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the multi-node lab needs root (namespaces, loop devices, mounts)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("mkfs.xfs", "ip", "losetup", "ping", "unshare")) or
                       not Path("/usr/sbin/sshd").exists(), reason="needs xfsprogs, iproute2, util-linux, sshd"),
]

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "ansible" / "inventory" / "multinode.yml"
SCENARIO = REPO / "scenarios" / "two_recorders.yaml"


def _ssh(node: str, command: str) -> subprocess.CompletedProcess[str]:
    target = read_inventory(INVENTORY).nodes[node].ssh
    return subprocess.run([*target.ssh_argv(), command], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    was_up = (MULTINODE_WORK_DIR / "state.json").exists()
    log = tmp_path_factory.mktemp("multinode") / "lab.log"
    first = provision_lab(INVENTORY, log)
    yield {"first": first, "log": log, "was_up": was_up}
    if not was_up and (MULTINODE_WORK_DIR / "state.json").exists():
        lab_down(work_dir=MULTINODE_WORK_DIR)


def _scenario(tmp_path: Path, **schedule: object) -> Path:
    data = yaml.safe_load(SCENARIO.read_text())
    data["lab"]["inventory"] = str(INVENTORY)
    data["schedule"].update(schedule)
    path = tmp_path / "scenarios" / "two_recorders.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def _pytest(scenario: Path, reports: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(scenario), "--reports", str(reports),
            *options]


def _results(reports: Path) -> dict[str, object] | None:
    found = sorted(reports.glob("two_recorders-*/results.json"))
    if not found:
        return None
    try:
        return dict(json.loads(found[-1].read_text()))
    except (OSError, ValueError):
        return None


def test_up_makes_every_node(lab: dict[str, object]) -> None:
    """(That the lab's roles converge, a second run changing nothing, is the extended test below: site.yml --check
    over every node.)"""
    status = lab_status(work_dir=MULTINODE_WORK_DIR)
    assert status.state == "up", status.summary()
    assert {"netns vlbi-mn-sender", "netns vlbi-mn-rec1", "netns vlbi-mn-rec2", "sshd of rec2",
            "xfs mount /srv/vlbi-lab-multinode/rec1/disk1 inside rec1"} <= set(status.present)
    # MTU 9000 end to end, DF set, from inside the sender node over its own sshd
    ping = _ssh("sender", "ping -M do -s 8972 -c 2 -W 1 -q 198.18.1.12")
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_disks_are_seen_only_inside_their_node(lab: dict[str, object]) -> None:
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=True).stdout
    assert "/srv/vlbi-lab-multinode" not in mounts  # this host (the controller) has none of the nodes' disks
    inside = _ssh("rec1", "findmnt -rn -o TARGET,FSTYPE")
    assert "/srv/vlbi-lab-multinode/rec1/disk0 xfs" in inside.stdout
    assert "/srv/vlbi-lab-multinode/rec2" not in inside.stdout  # nor does one node see another's


@pytest.mark.extended  # 70 s of Ansible in check mode over three nodes: `make test-extended`
def test_the_roles_run_again_change_nothing(lab: dict[str, object], tmp_path: Path) -> None:
    """site.yml --check over every node of the lab just made, as a run's preflight does it: no task would change
    (the local lab's own no-change run is in make test, tests/lab/test_local_lab.py)."""
    again = provision_lab(INVENTORY, tmp_path / "check.log", check_mode=True)
    assert again.changed == [], again.summary


def test_two_recorders_record_and_are_validated_on_their_nodes_and_one_lost_is_a_finding_there(
        lab: dict[str, object], tmp_path: Path) -> None:
    """One run of three scans on both recorders: each scan recorded and validated on its own node; rec2's sshd
    is then killed once its first scan is validated, so later validations there cannot
    reach it (a finding on rec2) while rec1's scans go on and pass, and the run ends with its report."""
    reports = tmp_path / "reports"
    run = subprocess.Popen(_pytest(_scenario(tmp_path, scans=3, scan_length="2s", gap="1s"), reports,
                                   "--skip-lab-check"),  # (the roles' no-change run: the extended test below)
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def rec2_first_validated() -> bool:
        results = _results(reports) or {}
        return any(s.get("recorder_node") == "rec2" and s.get("validated") for s in results.get("scans", []))

    try:
        wait_until(rec2_first_validated, timeout=300, what="rec2's first scan validated")
        pid = int((MULTINODE_WORK_DIR / "ssh" / "rec2_sshd.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        output, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    results = _results(reports)
    assert results is not None and results["verdict"] == "fail", output[-3000:]
    checked = {c["name"]: c["detail"] for c in results["preflight"]}
    assert checked["rec2 harness 0.1.0"].startswith("0.1.0 at /var/lib/vlbi-lab-multinode/nodes/rec2/venv")
    scans = results["scans"]
    assert isinstance(scans, list) and len(scans) == 6
    rec1 = [s for s in scans if s["recorder_node"] == "rec1"]
    rec2 = [s for s in scans if s["recorder_node"] == "rec2"]
    whole = [*rec1, rec2[0]]  # before rec2 was lost: recorded, validated on their own node, nothing lost
    assert len(rec1) == 3 and all(s["passed"] and s["validated_on"] == "rec1" for s in rec1)
    assert rec2[0]["passed"] and rec2[0]["validated_on"] == "rec2"
    for scan in whole:
        assert scan["frames_sent"] > 0 and scan["valid_frames"] == scan["frames_sent"] and scan["lost_frames"] == 0
    lost = [s for s in rec2 if not s["passed"]]
    assert lost and all(any("rec2" in p and "unreachable" in p for p in s["problems"]) for s in lost)
    assert "on rec2" in output and "rec1:" not in output.split("short test summary")[-1]
    # the recordings exist on their node and nowhere here
    name = rec1[0]["name"]
    listing = _ssh("rec1", f"ls /srv/vlbi-lab-multinode/rec1/disk*/{name}")
    assert listing.returncode == 0 and f"{name}.00000000" in listing.stdout, listing.stderr
    assert not list(Path("/srv/vlbi-lab-multinode/rec1").glob(f"disk*/{name}"))
    metrics = [json.loads(line) for line in next(reports.glob("two_recorders-*/metrics.jsonl")).read_text().split("\n")
               if line]
    assert {m["node"] for m in metrics} == {"rec1", "rec2"}
    assert any(isinstance(m.get("recorder_node"), dict) and m["recorder_node"].get("node") == "rec2"
               and "udp" in m["recorder_node"] for m in metrics)
    assert next(reports.glob("two_recorders-*/report.html")).stat().st_size > 0


def test_down_leaves_nothing(lab: dict[str, object]) -> None:
    if lab["was_up"]:
        pytest.skip("the multi-node lab was up before these tests: left up")
    lab_down(work_dir=MULTINODE_WORK_DIR)
    assert not MULTINODE_WORK_DIR.exists() and not Path("/srv/vlbi-lab-multinode").exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "vlbi-mn" not in netns
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    assert "vlbi-mn" not in links
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    assert "vlbi-lab-multinode" not in loops
    assert not Path("/etc/sysctl.d/60-vlbi-lab-multinode.conf").exists()
    leftover = subprocess.run(["pgrep", "-f", "vlbi-lab-multinode"], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""
