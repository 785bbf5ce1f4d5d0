"""The local lab, for real (root): up through Ansible, idempotent, checked by testinfra, used, and taken down.

One bring-up serves the whole module. If a lab was already up before these tests, it is reused and left
up (the teardown test is then skipped); otherwise the last test takes it down and proves nothing is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.lab import LabError, LabInfo, blocking_failures, lab_down, lab_status, lab_up, preflight
from harness.lab.probes import flexbuff_sysctls
from harness.lab.state import DEFAULT_WORK_DIR
from tests.lab.vsi import raising, vsi_responder
from tests.waiting import wait_until

# Not serial: under --dist loadfile one worker has the whole module (one lab up for it), and its bring-ups and small
# sends are not timing-sensitive; no parallel test touches the lab, its vlbi-* names or its multicast range.
pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local lab needs root (loop devices, mounts, namespaces)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("mkfs.xfs", "ip", "losetup", "ping")) or
                       not Path("/usr/sbin/sshd").exists(), reason="needs xfsprogs, iproute2, iputils-ping, sshd"),
]

SYSCTL_KEYS = list(flexbuff_sysctls("flexbuff")[0])


@dataclass
class LabRun:
    info: LabInfo
    log: Path
    was_up: bool
    seconds: float
    sysctls_before: dict[str, str]


def _sysctls() -> dict[str, str]:
    out = subprocess.run(["sysctl", "-n", *SYSCTL_KEYS], capture_output=True, text=True, check=True, timeout=10)
    return {k: " ".join(v.split()) for k, v in zip(SYSCTL_KEYS, out.stdout.splitlines(), strict=True)}


def _out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRun]:
    was_up = lab_status().state == "up"
    before = _sysctls()
    log = tmp_path_factory.mktemp("lab") / "lab.log"
    started = time.monotonic()
    try:
        info = lab_up(inventory="ansible/inventory/local.yml", log=log, disks=2, disk_size="12G")
    except BaseException:
        if not was_up:  # a half-made lab is taken down too: no test may leave one behind
            lab_down(log=log)
        raise
    run = LabRun(info, log, was_up, time.monotonic() - started, before)
    yield run
    if not was_up:
        lab_down(log=log)


def test_up_makes_xfs_loop_disks_a_sender_namespace_and_a_jumbo_veth(lab: LabRun) -> None:
    info = lab.info
    assert (info.root, info.degraded, info.sender_ip, info.recorder_ip, info.mtu) == \
        (True, False, "198.18.0.2", "198.18.0.1", 9000)
    assert info.mount_points == ["/srv/vlbi-lab/disk0", "/srv/vlbi-lab/disk1"]
    mounts = {fs["target"]: fs for fs in json.loads(_out("findmnt", "-J", "-l", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS"))
              ["filesystems"]}
    for mount, image in zip(info.mount_points, info.images, strict=True):
        assert mounts[mount]["fstype"] == "xfs" and "noatime" in mounts[mount]["options"].split(",")
        assert mounts[mount]["source"] in _out("losetup", "-j", image)
        assert os.stat(image).st_blocks * 512 < 1 << 30  # sparse: 12G apparent, little really written
    assert "vlbi-sender" in _out("ip", "netns", "list")
    host_end = json.loads(_out("ip", "-j", "addr", "show", "dev", "vlbi-rec0"))[0]
    node_end = json.loads(_out("ip", "-n", "vlbi-sender", "-j", "addr", "show", "dev", "vlbi-snd0"))[0]
    assert host_end["mtu"] == node_end["mtu"] == 9000
    assert "198.18.0.1" in [a["local"] for a in host_end["addr_info"]]
    assert "198.18.0.2" in [a["local"] for a in node_end["addr_info"]]
    boot = Path("/etc/sysctl.d/60-vlbi-lab.conf").read_text().splitlines()
    assert boot[0].startswith("# FlexBuff tuning") and "Managed by Ansible (role udp_tuning)" in boot[0]
    assert sorted(line.split("=")[0] for line in boot[1:]) == sorted(SYSCTL_KEYS)
    assert "PLAY Local lab plumbing" in lab.log.read_text()


def test_a_second_up_reports_no_change(lab: LabRun) -> None:
    done = subprocess.run([sys.executable, "-m", "harness.lab", "up", "--log", str(lab.log)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "no change", done.stdout


def test_drift_is_put_right_and_the_changed_task_named(lab: LabRun) -> None:
    subprocess.run(["sysctl", "-w", "vm.vfs_cache_pressure=100"], check=True, capture_output=True, timeout=10)
    info = lab_up(log=lab.log)
    assert info.changed == ["recorder: udp_tuning : Set each value, now and for boot"]
    assert _sysctls()["vm.vfs_cache_pressure"] == "50"


def test_a_different_layout_is_refused_while_up(lab: LabRun) -> None:
    with pytest.raises(LabError, match="already up with 2 disks, not 3"):
        lab_up(log=lab.log, disks=3)


def test_status_and_converge_false_reuse_the_lab(lab: LabRun) -> None:
    status = lab_status()
    assert status.state == "up" and status.up and not status.missing
    plays = lab.log.read_text().count("$ ansible-playbook ")
    assert lab_up(log=lab.log, converge=False).mount_points == lab.info.mount_points
    assert lab.log.read_text().count("$ ansible-playbook ") == plays, "converge=False ran a playbook"


def test_preflight_passes_and_describes_the_environment(lab: LabRun) -> None:
    with vsi_responder(lab.info.recorder_ip) as control:
        checks, environment = preflight(lab.info, recorder_version=control, free_bytes_needed=1 << 30,
                                        log_path=lab.log)
    assert not [c for c in checks if not c.passed], "\n".join(f"{c.name}: {c.detail}" for c in checks)
    names = {c.name for c in checks}
    assert {"recorder disk /srv/vlbi-lab/disk0", "recorder free space", "recorder sysctl net.core.rmem_max",
            "recorder MTU vlbi-rec0", "sender MTU vlbi-snd0", "sender jumbo ping to 198.18.0.1",
            "recorder jumbo ping to 198.18.0.2", "recorder answers version?", "sender clock offset"} <= names
    ping = next(c for c in checks if c.name == "sender jumbo ping to 198.18.0.1")
    assert "9000-byte IP packets, DF set" in ping.detail and " 0% packet loss" in ping.detail
    recorder, sender = environment["nodes"]["recorder"], environment["nodes"]["sender"]
    assert recorder["interfaces"]["vlbi-rec0"] == 9000 and sender["interfaces"]["vlbi-snd0"] == 9000
    assert "eth0" not in sender["interfaces"]  # the sender node really is the namespace
    assert [d["fstype"] for d in recorder["disks"]] == ["xfs", "xfs"]
    assert recorder["disks"][0]["size_bytes"] > 11 << 30 and "noatime" in recorder["disks"][0]["options"]
    assert set(recorder["sysctls"]) == set(SYSCTL_KEYS) and recorder["kernel"].startswith("Linux")
    assert environment["recorder_version"] == "jive5ab : 3.1.0 : 64bit : Release : vlbi-lab-test"
    clock = environment["clock"]  # the same clock: no offset beyond what the exchange itself cannot resolve
    assert abs(clock["offset_s"]) - clock["uncertainty_s"] < 0.01 and environment["lab"] == "local"
    json.dumps(environment)


def test_preflight_failures_are_findings_not_crashes(lab: LabRun) -> None:
    checks, _ = preflight(lab.info, recorder_version=raising(ConnectionRefusedError("port 2620 closed")),
                          free_bytes_needed=1 << 50, clock_limit_s=None)
    clock = next(c for c in checks if c.name == "sender clock offset")
    assert clock.passed and clock.advisory and clock.detail.endswith("(no limit set)")
    failed = {c.name: c.detail for c in blocking_failures(checks)}
    assert set(failed) == {"recorder answers version?", "recorder free space"}
    assert failed["recorder answers version?"] == "ConnectionRefusedError: port 2620 closed"
    assert "1048576.0 GiB needed" in failed["recorder free space"]


def test_the_sender_node_is_reached_over_ssh(lab: LabRun) -> None:
    argv = lab.info.sender_command(["sh", "-c", "ip -j addr show; echo SSH=$SSH_CONNECTION"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    links, ssh_line = done.stdout.splitlines()
    assert {link["ifname"] for link in json.loads(links)} == {"lo", "vlbi-snd0"}
    assert ssh_line.startswith("SSH=198.18.0.1 ") and ssh_line.endswith(" 198.18.0.2 22")


def test_signals_reach_the_command_on_the_sender_node(lab: LabRun) -> None:
    script = 'trap "echo stopped cleanly; exit 7" TERM; echo running; while :; do sleep 0.05; done'
    process = subprocess.Popen(lab.info.sender_command(["sh", "-c", script]), stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout is not None and process.stdout.readline() == "running\n"
    process.send_signal(signal.SIGTERM)
    assert process.communicate(timeout=15)[0] == "stopped cleanly\n" and process.returncode == 7
    with subprocess.Popen(lab.info.sender_command(["sleep", "300"]), stdout=subprocess.DEVNULL) as killed:
        wait_until(lambda: "sleep" in _namespace_commands(), what="sleep to run on the sender node")
        killed.kill()  # the harness itself dies: the node half must not leave sleep running
    wait_until(lambda: "sleep" not in _namespace_commands(), what="the node's sleep to end with its ssh")


def _namespace_commands() -> list[str]:
    pids = _out("ip", "netns", "pids", "vlbi-sender").split()
    return [Path(f"/proc/{p}/comm").read_text().strip() for p in pids if Path(f"/proc/{p}/comm").exists()]


def _snmp(netns: str | None = None) -> dict[str, int]:
    text = _out("ip", "netns", "exec", netns, "cat", "/proc/net/snmp") if netns else Path("/proc/net/snmp").read_text()
    ip_lines = [line.split()[1:] for line in text.splitlines() if line.startswith("Ip:")]
    return dict(zip(ip_lines[0], map(int, ip_lines[1]), strict=True))


def test_8224_byte_vdif_frames_cross_the_veth_unfragmented(lab: LabRun) -> None:
    info = lab.info
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    receiver.bind((info.recorder_ip, 0))
    receiver.settimeout(60)  # the first datagram waits for ssh and the sender's start, however busy the machine
    host_before, node_before = _snmp(), _snmp(info.sender_netns)
    argv = info.sender_command([sys.executable, "-m", "harness.sender", "--dest", info.recorder_ip,
                                "--port", str(receiver.getsockname()[1]), "--payload-bytes", "8192", "--fps", "500",
                                "--threads", "2", "--duration", "1", "--udps", "--json"])
    sender = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sizes: dict[int, int] = {}
    try:
        while True:
            size = len(receiver.recv(65536))
            sizes[size] = sizes.get(size, 0) + 1
            receiver.settimeout(3 if sender.poll() is None else 0.5)  # then until the sender is done
    except TimeoutError:
        pass
    finally:
        receiver.close()
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 0, err
    assert json.loads(out)["frames_sent"] == 1000
    assert sizes == {8232: 1000}  # 8224-byte frames + 8-byte sequence number, every one whole
    assert _snmp(info.sender_netns)["FragCreates"] == node_before["FragCreates"]
    assert _snmp()["ReasmReqds"] == host_before["ReasmReqds"]


def test_jumbo_frames_keeps_the_mtu_for_boot_with_a_udev_rule(lab: LabRun, tmp_path: Path) -> None:
    from harness.lab import run_playbook

    rule = tmp_path / "70-vlbi-jumbo-frames.rules"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"recorder": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "data_interface": "vlbi-rec0", "jumbo_frames_persist": "udev", "jumbo_frames_udev_rule": str(rule)}}}}))
    run = run_playbook(Path(__file__).parent / "playbooks" / "jumbo_frames.yml", inventory)
    assert run.ok and run.changed == ["recorder: jumbo_frames : Keep the MTU across reboots"]  # MTU already 9000
    assert 'KERNEL=="vlbi-rec0", RUN+="/sbin/ip link set dev %k mtu 9000"' in rule.read_text()


def test_the_sender_nodes_sshd_lets_in_only_the_harness_key_from_the_controller(lab: LabRun) -> None:
    """sshd's effective configuration (``sshd -T``), and the refusals a user on the lab network would meet: a
    login from another address than the controller's, and a password login."""
    ssh = lab.info.sender_ssh
    assert ssh is not None and ssh.identity
    config = str(Path(ssh.identity).parent / "sshd_config")
    effective = dict(line.split(" ", 1) for line in _out("sshd", "-T", "-f", config).splitlines() if " " in line)
    assert effective["strictmodes"] == "yes" and effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no" and effective["permitrootlogin"] == "without-password"
    assert effective["allowusers"] == "root@198.18.0.1" and effective["listenaddress"] == "198.18.0.2:22"
    assert effective["allowtcpforwarding"] == "no" and effective["x11forwarding"] == "no"
    key = Path(ssh.identity)
    assert key.stat().st_uid == 0 and key.stat().st_mode & 0o077 == 0, "the harness's key is root's alone"
    # from inside the sender node (source 198.18.0.2): the right key, the wrong address
    from_node = ["ip", "netns", "exec", "vlbi-sender", *ssh.ssh_argv(), "true"]
    refused = subprocess.run(from_node, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
    password = [*ssh.ssh_argv()[:-1], "-o", "PreferredAuthentications=password,keyboard-interactive",
                "-o", "PubkeyAuthentication=no", ssh.ssh_argv()[-1], "true"]
    refused = subprocess.run(password, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr, refused.stderr


def test_down_leaves_nothing_behind(lab: LabRun) -> None:
    if lab.was_up:
        pytest.skip("the lab was up before these tests; it stays up")
    removed = lab_down(log=lab.log)
    assert any(r.startswith("mount /srv/vlbi-lab/disk0") for r in removed)
    assert "/srv/vlbi-lab" not in _out("findmnt", "-l", "-o", "TARGET")
    assert "/run/netns/vlbi-sender" not in _out("findmnt", "-l", "-o", "TARGET")
    assert "vlbi-lab" not in _out("losetup", "-a")
    assert "vlbi-sender" not in _out("ip", "netns", "list")
    assert "vlbi-" not in _out("ip", "-br", "link")
    cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert not [c for c in cmdlines if b"vlbi-lab/ssh" in c], "an sshd of the lab survived"
    assert not Path("/etc/sysctl.d/60-vlbi-lab.conf").exists() and not DEFAULT_WORK_DIR.exists()
    assert _sysctls() == lab.sysctls_before
    assert lab_status().state == "down" and lab_down(log=lab.log) == []

