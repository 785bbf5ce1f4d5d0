"""The lab's pure logic: Ansible filters, sysctl comparison, failure messages, LabInfo, the VSI-S version query."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from harness.lab import LabError, LabInfo, SshTarget
from harness.lab.__main__ import _bytes
from harness.lab.probes import flexbuff_sysctls, query_version, sysctl_satisfies
from harness.lab.remote import _exit_code
from harness.lab.runner import ANSIBLE_DIR, PlaybookRun, TaskFailure, _failure_message
from harness.lab.state import info_from_state
from tests.lab.vsi import vsi_responder

spec = importlib.util.spec_from_file_location("vlbi_filters", ANSIBLE_DIR / "filter_plugins" / "vlbi.py")
assert spec and spec.loader
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)


def test_lab_disks_are_named_flexbuff_style_under_the_lab_root() -> None:
    disks = filters.lab_disks("3", "/var/lib/vlbi-lab/images/", "/srv/vlbi-lab")
    assert [d["mount"] for d in disks] == ["/srv/vlbi-lab/disk0", "/srv/vlbi-lab/disk1", "/srv/vlbi-lab/disk2"]
    assert disks[2]["device"] == "/var/lib/vlbi-lab/images/disk2.img"
    assert all(len(d["label"]) <= 12 for d in disks)  # XFS labels are at most 12 characters


@pytest.mark.parametrize(("current", "wanted", "expected"), [
    ("1000", "8192", "8192"),
    ("201326592", "201326592", "201326592"),
    ("1073741824", "201326592", "1073741824"),                            # never lowered
    ("575799\t767734\t1151598", "16384 32768 49152", "575799 767734 1151598"),
    ("10000 20000 30000", "16384 32768 49152", "16384 32768 49152"),
    ("100 200000 300", "16384 32768 49152", "16384 200000 49152"),        # element by element
])
def test_sysctl_at_least(current: str, wanted: str, expected: str) -> None:
    assert filters.sysctl_at_least(current, wanted) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("198.18.0.1", "198.18.0.1"), (" 10.107.0.1 ", "10.107.0.1"), ("2001:DB8:0::1", "2001:db8::1"),
    ("", ""), ("controller.lab", ""), ("10.107.0.300", ""), ("10.107.0.0/24", ""), (None, ""),
])
def test_ip_address_is_canonical_or_empty(value: object, expected: str) -> None:
    assert filters.ip_address(value) == expected


def test_sysctl_targets_raise_minima_and_set_the_rest_exactly() -> None:
    wanted = {"net.core.rmem_max": 201326592, "vm.vfs_cache_pressure": 50}
    current = ["402653184", "100"]
    targets = filters.sysctl_targets(wanted, current, ["net.core.rmem_max"])
    assert targets == {"net.core.rmem_max": "402653184", "vm.vfs_cache_pressure": "50"}
    assert filters.sysctl_differs(targets, current) == ["vm.vfs_cache_pressure=50"]
    assert filters.sysctl_differs(targets, ["402653184", "50"]) == []
    with pytest.raises(ValueError, match="expected 2 sysctl values"):
        filters.sysctl_targets(wanted, ["1"], [])


def test_flexbuff_profiles_come_from_the_role_defaults() -> None:
    normal, at_least = flexbuff_sysctls("flexbuff")
    assert normal["net.core.rmem_max"] == "201326592"
    assert normal["net.ipv4.udp_mem"] == "16384 32768 49152"
    assert normal["vm.min_free_kbytes"] == "1048576"
    assert "vm.vfs_cache_pressure" not in at_least and "net.core.rmem_max" in at_least
    fast, _ = flexbuff_sysctls("flexbuff_16g")
    assert fast["net.core.rmem_max"] == "1073741824"
    assert fast["net.core.netdev_max_backlog"] == "1048576"
    assert fast["net.ipv4.udp_mem"] == "536870912 805306368 1073741824"
    assert fast["net.core.wmem_max"] == normal["net.core.wmem_max"]  # the 16G set keeps the others
    with pytest.raises(LabError, match="unknown udp_tuning profile"):
        flexbuff_sysctls("flexbuff_99g")


@pytest.mark.parametrize(("value", "wanted", "at_least", "ok"), [
    ("201326592", "201326592", True, True),
    ("212992", "201326592", True, False),
    ("575799 767734 1151598", "16384 32768 49152", True, True),
    ("575799 767734", "16384 32768 49152", True, False),
    ("100", "50", False, False),
    ("50", "50", False, True),
])
def test_sysctl_satisfies(value: str, wanted: str, at_least: bool, ok: bool) -> None:
    assert sysctl_satisfies(value, wanted, at_least=at_least) is ok


def test_failure_message_prefers_the_first_failed_item() -> None:
    res = {"msg": "One or more items failed", "results": [
        {"item": "a", "failed": False},
        {"_ansible_item_label": "/dev/sdb", "failed": True, "msg": "non-zero return code", "stderr": "no such device",
         "cmd": ["blkid", "/dev/sdb"]},
    ]}
    assert _failure_message(res) == "[item /dev/sdb] non-zero return code | no such device | command: blkid /dev/sdb"
    assert _failure_message({"msg": "non-zero return code", "cmd": ["false"]}) == \
        "non-zero return code | command: false"
    assert _failure_message({}) == "no message"


def test_a_failed_run_raises_one_error_naming_host_task_and_message() -> None:
    run = PlaybookRun("/x/site.yml", "/x/inv.yml", status="failed", rc=2, log_path="reports/r/lab.log",
                      failures=[TaskFailure("recorder", "xfs_disks : Format with XFS", "mkfs.xfs: bad"),
                                TaskFailure("sender", "jumbo_frames : Set the MTU", "RTNETLINK")])
    with pytest.raises(LabError) as caught:
        run.raise_for_failure()
    text = str(caught.value)
    assert text.startswith("site.yml: task 'xfs_disks : Format with XFS' failed on recorder: mkfs.xfs: bad")
    assert "1 more failures" in text and "reports/r/lab.log" in text
    assert PlaybookRun("/x/site.yml", "/x/inv.yml", status="successful").summary() == "no change"


def _state() -> dict[str, object]:
    return {"schema": 1, "lab": "local", "work_dir": "/var/lib/vlbi-lab", "mount_root": "/srv/vlbi-lab",
            "disk_size": "12G", "netns": "vlbi-sender", "veth_recorder": "vlbi-rec0", "veth_sender": "vlbi-snd0",
            "recorder_ip": "198.18.0.1", "sender_ip": "198.18.0.2", "prefix": 30, "mtu": 9000,
            "disks": [{"device": f"/var/lib/vlbi-lab/images/disk{n}.img", "mount": f"/srv/vlbi-lab/disk{n}"}
                      for n in range(2)],
            "ssh": {"dir": "/var/lib/vlbi-lab/ssh", "port": 22, "user": "root", "identity": "/k/id",
                    "known_hosts": "/k/kh", "sshd_config": "/k/c", "pidfile": "/k/p"},
            "sysctl_profile": "flexbuff"}


def test_lab_info_from_state_and_back() -> None:
    info = info_from_state(_state(), changed=["recorder: x"])
    assert (info.root, info.degraded, info.mtu, info.sender_netns) == (True, False, 9000, "vlbi-sender")
    assert info.mount_points == ["/srv/vlbi-lab/disk0", "/srv/vlbi-lab/disk1"]
    assert info.disk_glob == "/srv/vlbi-lab/disk*"
    again = LabInfo.from_json(info.to_json())
    assert again == info and isinstance(again.sender_ssh, SshTarget)


def test_sender_command_goes_through_ssh_or_netns_or_runs_as_is() -> None:
    info = info_from_state(_state())
    argv = info.sender_command(["vdif-send", "--dest", "198.18.0.1"], cwd="/work")
    assert argv[1:3] == ["-m", "harness.lab.remote"]
    assert argv[argv.index("--host") + 1] == "198.18.0.2" and argv[argv.index("--cwd") + 1] == "/work"
    assert argv[-4:] == ["--", "vdif-send", "--dest", "198.18.0.1"]
    assert info.sender_command(["true"], via="netns") == ["ip", "netns", "exec", "vlbi-sender", "true"]
    with pytest.raises(ValueError):
        info.sender_command(["true"], via="telnet")
    degraded = LabInfo(root=False, degraded=True, sender_ip="127.0.0.1", recorder_ip="127.0.0.1", mtu=65536,
                       mount_points=[], disk_glob="/tmp/x/disk*")
    assert degraded.sender_command(["true"]) == ["true"]


def test_ssh_options_pin_the_host_key_and_never_prompt() -> None:
    argv = SshTarget("198.18.0.2", "root", "/k/id", "/k/kh").ssh_argv()
    joined = " ".join(argv)
    assert "StrictHostKeyChecking=yes" in joined and "UserKnownHostsFile=/k/kh" in joined
    assert "BatchMode=yes" in joined and argv[-1] == "root@198.18.0.2"


def test_exit_codes_of_signalled_commands_look_like_a_shell_s() -> None:
    assert _exit_code(0) == 0 and _exit_code(3) == 3 and _exit_code(-15) == 143


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("20G", 20 << 30), ("1.5GiB", 3 << 29), ("512M", 512 << 20)])
def test_cli_sizes(text: str, value: int) -> None:
    assert _bytes(text) == value


def test_version_query_speaks_vsi_s() -> None:
    with vsi_responder() as address:
        assert query_version(address) == "jive5ab : 3.1.0 : 64bit : Release : vlbi-lab-test"


def test_version_query_names_an_address_that_does_not_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(LabError, match=f"127.0.0.1:{port} does not answer"):
        query_version(f"127.0.0.1:{port}", timeout=1)
    with pytest.raises(LabError, match="host:port"):
        query_version("no-port")


def test_every_role_has_defaults_meta_and_tasks() -> None:
    for role in ("packages", "local_lab", "xfs_disks", "udp_tuning", "jumbo_frames", "jive5ab"):
        base = Path(ANSIBLE_DIR, "roles", role)
        assert all((base / part / "main.yml").is_file() for part in ("defaults", "meta", "tasks")), role
