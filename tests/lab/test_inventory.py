"""Reading a lab from its Ansible inventory alone (roles, SSH settings, data path, disks), and node locks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.lab.errors import LabError
from harness.lab.inventory import read_inventory
from harness.scenario import run_lock

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible" / "inventory"


def test_the_example_lab_gives_roles_ssh_settings_data_path_and_disks() -> None:
    inventory = read_inventory(ANSIBLE / "lab.example.yml")
    assert [n.name for n in inventory.role("sender")] == ["vdif-sender-01"]
    assert [n.name for n in inventory.role("recorder")] == ["flexbuff-01", "flexbuff-02"]
    flexbuff = inventory.node("flexbuff-01", "recorder")
    assert (flexbuff.ssh.host, flexbuff.ssh.user, flexbuff.ssh.port) == ("10.107.0.10", "vlbi", 22)
    assert flexbuff.ssh.identity == str(Path("~/.ssh/vlbi_lab_ed25519").expanduser())
    assert (flexbuff.data_address, flexbuff.data_interface) == ("10.107.1.10", "ens1f0")
    assert flexbuff.mount_points == ("/mnt/disk0", "/mnt/disk1", "/mnt/disk2", "/mnt/disk3")
    assert flexbuff.python == "/opt/vlbi-harness/venv/bin/python"
    assert inventory.netns_work_dir is None


def test_the_multinode_lab_is_read_with_its_templated_values() -> None:
    inventory = read_inventory(ANSIBLE / "multinode.yml")
    rec2 = inventory.node("rec2", "recorder")
    assert rec2.ssh.known_hosts == "/var/lib/vlbi-lab-multinode/ssh/known_hosts"  # from ansible_ssh_common_args
    assert rec2.python == "/var/lib/vlbi-lab-multinode/nodes/rec2/venv/bin/python"  # {{ inventory_hostname }}
    assert rec2.netns == "vlbi-mn-rec2" and rec2.lock_key == "198.18.2.12:22"
    assert inventory.netns_work_dir == "/var/lib/vlbi-lab-multinode"
    with pytest.raises(LabError, match=r"no recorder node 'rec3' \(its recorders: rec1, rec2\)"):
        inventory.node("rec3", "recorder")


DISKS = [{"device": "/dev/sdb", "mount": "/mnt/disk0"}]


@pytest.mark.parametrize(("host_vars", "message"), [
    ({"ansible_host": "10.0.0.1", "data_interface": "eth1", "xfs_disks_list": DISKS},
     r"host flexbuff: set data_address"),
    ({"ansible_host": "10.0.0.1", "data_address": "10.1.0.1", "data_interface": "eth1"},
     r"host flexbuff: set xfs_disks_list"),
    ({"ansible_port": "twenty-two", "data_address": "10.1.0.1", "data_interface": "eth1", "xfs_disks_list": DISKS},
     r"host flexbuff: ansible_port 'twenty-two' is not a number"),
    ({"data_address": "10.1.0.1", "data_interface": "{{ undefined_var }}", "xfs_disks_list": DISKS},
     r"host flexbuff: data_interface: .*undefined_var"),
])
def test_a_host_missing_what_the_harness_needs_is_named(tmp_path: Path, host_vars: dict[str, object],
                                                        message: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"recorders": {"hosts": {"flexbuff": host_vars}}}}}))
    with pytest.raises(LabError, match=message):
        read_inventory(path)


def test_an_inventory_without_senders_or_recorders_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("all:\n  hosts:\n    somewhere:\n")
    with pytest.raises(LabError, match="no hosts in groups senders or recorders"):
        read_inventory(path)


def test_a_node_held_by_another_run_is_waited_for_then_refused_naming_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(run_lock.LOCKS_ENV, str(tmp_path / "locks"))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from harness.scenario import run_lock\n"
        "held = run_lock.lock_nodes({'rec1': '198.18.2.11:22'}, 'soak_nightly', wait_s=0)\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True,
        env=dict(os.environ))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        said: list[str] = []
        with pytest.raises(LabError, match=rf"node rec1 \(198.18.2.11:22\) is in use by scenario soak_nightly "
                                           rf"\(pid {holder.pid}\): waited 1 s"):
            run_lock.lock_nodes({"rec2": "198.18.2.12:22", "rec1": "198.18.2.11:22"}, "two_recorders", wait_s=1,
                                announce=said.append)
        assert said and "waiting up to 1 s for node rec1" in said[0]
        free = run_lock.lock_nodes({"rec2": "198.18.2.12:22"}, "two_recorders", wait_s=0)  # rec2 was let go
        free.release()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    taken = run_lock.lock_nodes({"rec1": "198.18.2.11:22"}, "two_recorders", wait_s=5)  # the holder died: free
    taken.release()


@pytest.mark.parametrize("field", ["ansible_user", "ansible_host"])
def test_an_ssh_option_in_place_of_a_user_or_host_is_refused(tmp_path: Path, field: str) -> None:
    host = {"ansible_host": "10.0.0.1", "ansible_user": "vlbi", "data_address": "10.1.0.1", "data_interface": "eth1",
            "xfs_disks_list": DISKS, field: "-oProxyCommand=touch /tmp/owned"}
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"recorders": {"hosts": {"flexbuff": host}}}}}))
    with pytest.raises(LabError, match=rf"host flexbuff: {field} '-oProxyCommand=touch /tmp/owned' is not a host"):
        read_inventory(path)


def test_one_machine_in_two_roles_is_locked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(run_lock.LOCKS_ENV, str(tmp_path / "locks"))
    held = run_lock.lock_nodes({"sender": "10.0.0.5:22", "flexbuff": "10.0.0.5:22"}, "both_roles", wait_s=1)
    try:
        assert len(held.handles) == 1
        with pytest.raises(run_lock.NodesBusy, match=r"node flexbuff \(10.0.0.5:22\) is in use by scenario both_roles"):
            run_lock.lock_nodes({"flexbuff": "10.0.0.5:22"}, "another", wait_s=0)
    finally:
        held.release()
