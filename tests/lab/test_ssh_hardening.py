"""The ssh_hardening role (a real lab node's system sshd): its refusals, and the drop-in it writes proved on a
real sshd in network namespaces of its own, against real ssh clients from two addresses.

The sshd test makes everything under unique names (namespaces, veths, the harness user ``vt-sshd-<hex>``,
``/run/vt-sshd-<hex>``, 198.19.<n>.0/24 inside the namespaces only) and removes it all, also when it fails:
it can run beside any other test. Not under /tmp: StrictModes refuses keys below a world-writable folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.lab import PlaybookFailed, commands, run_playbook
from tests.waiting import wait_until

PLAYBOOK = Path(__file__).parent / "playbooks" / "ssh_hardening.yml"
SSHD = Path("/usr/sbin/sshd")
ROOT_SKIP = pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd in network namespaces and a user of its "
                               "own need root")
TOOLS_SKIP = pytest.mark.skipif(not SSHD.exists() or not all(shutil.which(t) for t in (
    "ssh", "ssh-keygen", "ip", "ss", "useradd", "userdel")), reason="needs openssh, iproute2, passwd")
PRIVSEP_SKIP = pytest.mark.skipif(not Path("/run/sshd").is_dir(), reason="sshd needs its privilege-separation "
                                  "directory /run/sshd (made by openssh-server)")


def _inventory(path: Path, **hostvars: object) -> Path:
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_user": "vlbi", "ansible_host": "198.19.0.2", "ssh_hardening_reload": False,
            "ssh_hardening_key_users": [], "ssh_hardening_main_config": str(path / "sshd_config"),
            "ssh_hardening_dropin_path": str(path / "sshd_config.d" / "50-vlbi-lab.conf"), **hostvars}
    inventory = path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"node": host}}}))
    return inventory


def _refusal(inventory: Path) -> PlaybookFailed:
    run = run_playbook(PLAYBOOK, inventory, timeout=120)
    with pytest.raises(PlaybookFailed) as caught:
        run.raise_for_failure()
    return caught.value


@pytest.mark.parametrize("address", [None, "", "controller.lab", "10.107.0.300", "10.107.0.0/24"])
def test_an_unset_or_non_ip_controller_address_is_refused_naming_the_variable(
        tmp_path: Path, address: str | None) -> None:
    hostvars = {} if address is None else {"ssh_hardening_controller_address": address}
    failure = _refusal(_inventory(tmp_path, **hostvars))
    assert failure.task == "ssh_hardening : Check the controller address"
    assert failure.message == ("set ssh_hardening_controller_address to the controller's IP address as "
                               f"node's sshd sees it (got {json.dumps(address or '')})"), failure.message
    assert not (tmp_path / "sshd_config.d").exists()


def test_a_connection_from_elsewhere_than_the_controller_is_refused_unless_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sshd_config").write_text("# no Include\n")
    inventory = _inventory(tmp_path, ssh_hardening_controller_address="198.19.0.1")
    # the local connection's module sees this environment as a node's shell would see sshd's
    monkeypatch.setenv("SSH_CONNECTION", "198.19.0.9 50022 198.19.0.2 22")
    failure = _refusal(inventory)
    assert failure.task == "ssh_hardening : Refuse to lock the controller out"
    assert "this Ansible connection comes from 198.19.0.9 to 198.19.0.2:22, but sshd would let in only " \
           "vlbi@198.19.0.1 on 198.19.0.2:22" in failure.message
    assert "Set ssh_hardening_force=true" in failure.message
    monkeypatch.delenv("SSH_CONNECTION")
    assert "is not over SSH (no SSH_CONNECTION)" in _refusal(inventory).message
    # forced, it goes on, to the next refusal: a main configuration that never reads the drop-in
    failure = _refusal(_inventory(tmp_path, ssh_hardening_controller_address="198.19.0.1", ssh_hardening_force=True))
    assert failure.task == "ssh_hardening : Check that the main sshd configuration reads the drop-in directory"
    assert f'{tmp_path}/sshd_config on node has no "Include {tmp_path}/sshd_config.d/*.conf"' in failure.message
    assert not (tmp_path / "sshd_config.d").exists()


@dataclass
class Node:
    """A node's sshd in a namespace, a controller namespace with two addresses, the harness user's key."""

    tag: str
    subnet: str           # "198.19.<n>"
    node_ns: str
    client_ns: str
    user: str
    work: Path
    key: Path
    inventory: Path
    sshd_log: Path

    @property
    def authorized_keys(self) -> Path:
        return self.work / "home" / ".ssh" / "authorized_keys"

    def ssh(self, source: str, *options: str, dest: str | None = None) -> subprocess.CompletedProcess[str]:
        """A real ssh client in the controller namespace, from one of its two addresses, with the harness key."""
        argv = ["ip", "netns", "exec", self.client_ns, "ssh", "-F", "/dev/null", "-i", str(self.key),
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.work / 'known_hosts'}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", *options,
                "-b", source, "-l", self.user, dest or f"{self.subnet}.2", "echo logged in as $(id -un)"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _run(*argv: str | Path) -> str:
    return commands.run([str(a) for a in argv], timeout=30).stdout


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    tag = secrets.token_hex(3)
    subnet = f"198.19.{secrets.randbelow(256)}"
    user = f"vt-sshd-{tag}"
    node_ns, client_ns = f"vt-sshd-{tag}-node", f"vt-sshd-{tag}-ctl"
    work = Path(f"/run/vt-sshd-{tag}")
    made: list[str] = []
    try:
        work.mkdir(mode=0o755)
        made.append("work")
        for ns in (node_ns, client_ns):
            _run("ip", "netns", "add", ns)
            made.append(ns)
        _run("ip", "link", "add", f"vt-sshd-{tag}n", "netns", node_ns, "type", "veth",
             "peer", "name", f"vt-sshd-{tag}c", "netns", client_ns)
        for ns, side, addresses in ((node_ns, "n", (".2", ".4")), (client_ns, "c", (".1", ".3"))):
            for last in addresses:
                _run("ip", "-n", ns, "addr", "add", f"{subnet}{last}/24", "dev", f"vt-sshd-{tag}{side}")
            _run("ip", "-n", ns, "link", "set", f"vt-sshd-{tag}{side}", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        home = work / "home"
        # '*': no password, yet not locked (sshd without PAM refuses even keys of a locked account, '!')
        _run("useradd", "-M", "-N", "-g", "nogroup", "-d", home, "-s", "/bin/sh", "-p", "*", user)
        made.append("user")
        (home / ".ssh").mkdir(parents=True)
        os.chown(home, _uid(user), -1)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vt-sshd-harness", "-f", work / "id_ed25519")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vt-sshd-node", "-f", work / "host_key")
        host_key = " ".join((work / "host_key.pub").read_text().split()[:2])
        (work / "known_hosts").write_text(f"{subnet}.2 {host_key}\n{subnet}.4 {host_key}\n")
        # the key as a careless copy leaves it: root's, group-writable (the role makes it the user's, go-w)
        keys = home / ".ssh" / "authorized_keys"
        keys.write_text((work / "id_ed25519.pub").read_text())
        keys.chmod(0o664)
        (home / ".ssh").chmod(0o775)
        (work / "sshd_config.d").mkdir()
        (work / "sshd_config").write_text(
            f"Include {work}/sshd_config.d/*.conf\nHostKey {work}/host_key\nPidFile {work}/sshd.pid\n"
            "UsePAM no\nLogLevel VERBOSE\n")  # no PAM: no session of the host's logind for a test user
        inventory = _inventory(work, ansible_user=user, ansible_host=f"{subnet}.2",
                               ssh_hardening_controller_address=f"{subnet}.1", ssh_hardening_key_users=[user])
        # what the node's shell would see of the controller's Ansible connection: the lock-out check passes
        monkeypatch.setenv("SSH_CONNECTION", f"{subnet}.1 50022 {subnet}.2 22")
        yield Node(tag, subnet, node_ns, client_ns, user, work, work / "id_ed25519", inventory, work / "sshd.log")
    finally:
        if "user" in made:
            subprocess.run(["userdel", user], capture_output=True, timeout=30, check=False)
        for ns in (node_ns, client_ns):
            if ns in made:  # its processes are the test's sshd, already stopped; the veth pair goes with it
                subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30, check=False)
        if "work" in made:
            shutil.rmtree(work, ignore_errors=True)


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


@contextlib.contextmanager
def _sshd(node: Node) -> Iterator[subprocess.Popen[bytes]]:
    """The real sshd (-D, in the foreground) on the configuration the role wrote, inside the node namespace."""
    with node.sshd_log.open("wb") as log:
        process = subprocess.Popen(["ip", "netns", "exec", node.node_ns, str(SSHD), "-D", "-e",
                                    "-f", str(node.work / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None or f"{node.subnet}.2:22" in _listening(node), timeout=15,
                   what="the node's sshd to listen")
        assert process.poll() is None, node.sshd_log.read_text()
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _listening(node: Node) -> list[str]:
    out = _run("ip", "netns", "exec", node.node_ns, "ss", "-ltnH")
    return [line.split()[3] for line in out.splitlines() if line.strip()]


@pytest.mark.root
@pytest.mark.slow
@ROOT_SKIP
@TOOLS_SKIP
@PRIVSEP_SKIP
def test_the_drop_in_lets_in_the_harness_key_from_the_controller_alone(node: Node) -> None:
    first = run_playbook(PLAYBOOK, node.inventory, timeout=120)
    first.raise_for_failure()
    assert sorted(first.changed) == [
        "node: ssh_hardening : Harden sshd by a drop-in, checked as part of the whole configuration before it is "
        "put in place",
        "node: ssh_hardening : Make the key users' ~/.ssh and authorized_keys theirs and writable by them alone"]
    again = run_playbook(PLAYBOOK, node.inventory, timeout=120)
    assert again.ok and again.changed == [], again.changed
    for path in (node.authorized_keys, node.authorized_keys.parent):  # made the user's, writable by it alone
        assert (path.stat().st_uid, path.stat().st_mode & 0o022) == (_uid(node.user), 0), path
    assert node.authorized_keys.read_text() == node.key.with_suffix(".pub").read_text()  # modes, not content
    controller, other = f"{node.subnet}.1", f"{node.subnet}.3"
    with _sshd(node):
        assert _listening(node) == [f"{node.subnet}.2:22"]  # the management address alone
        login = node.ssh(controller)
        assert (login.returncode, login.stdout) == (0, f"logged in as {node.user}\n"), login.stderr
        # the same key from another address of the lab network
        refused = node.ssh(other)
        assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr, refused.stderr
        assert f"User {node.user} from {other} not allowed because not listed in AllowUsers" in \
            node.sshd_log.read_text()
        # a password: the server offers no password method at all (BatchMode would never type one anyway)
        password = node.ssh(controller, "-o", "PreferredAuthentications=password,keyboard-interactive",
                            "-o", "PubkeyAuthentication=no", "-v")
        assert password.returncode == 255 and "Permission denied (publickey)." in password.stderr, password.stderr
        assert "Authentications that can continue: publickey\n" in password.stderr
        # the node's other address: nothing listens there
        elsewhere = node.ssh(controller, dest=f"{node.subnet}.4")
        assert elsewhere.returncode == 255 and "Connection refused" in elsewhere.stderr, elsewhere.stderr
        # StrictModes: a group-writable authorized_keys is refused, the right key from the right address too
        node.authorized_keys.chmod(0o664)
        refused = node.ssh(controller)
        assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr, refused.stderr
        assert "Authentication refused: bad ownership or modes for file" in node.sshd_log.read_text()
        # and the role's next run puts the mode right again
        fixed = run_playbook(PLAYBOOK, node.inventory, timeout=120)
        assert fixed.ok and fixed.changed == [
            "node: ssh_hardening : Make the key users' ~/.ssh and authorized_keys theirs and writable by them alone"]
        assert node.ssh(controller).returncode == 0
