"""Root trusts no lab state, key, lock or directory that another user could have written (harness/lab/trust.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab import LabError, lab_down, lab_status, lab_up
from harness.lab.state import read_state, write_state
from harness.lab.trust import private_dir, read_private

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                 reason="needs root to act as another user (setpriv, chown)")]


def as_nobody(*argv: str) -> None:
    subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv],
                   check=True, timeout=30, cwd="/")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory like /tmp: everyone may write, the sticky bit keeps them to their own entries."""
    path = Path(tempfile.mkdtemp(prefix="vlbi-trust-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


def planted_state(work: Path) -> dict[str, object]:
    """What an attacker would write: a sysctl for root to 'restore', a mount and a namespace for root to act on."""
    return {"schema": 1, "lab": "local", "work_dir": str(work), "mount_root": "/", "disk_size": "1G",
            "disks": [{"device": "/etc/passwd", "mount": "/"}], "netns": "some-container",
            "veth_recorder": "eth0", "veth_sender": "eth1", "recorder_ip": "198.18.0.1", "sender_ip": "198.18.0.2",
            "prefix": 30, "mtu": 9000,
            "ssh": {"dir": "/root/.ssh", "port": 22, "user": "root", "identity": "/root/.ssh/id",
                    "known_hosts": "/root/.ssh/known_hosts", "sshd_config": "/etc/ssh/sshd_config",
                    "pidfile": "/run/sshd.pid"},
            "sysctl_file": "/etc/sysctl.conf", "sysctl_profile": "flexbuff",
            "sysctl_before": "/tmp/vlbi-evil-sysctls.json"}


def test_a_state_planted_by_another_user_is_refused_by_down_up_and_status(shared: Path) -> None:
    work = shared / "vlbi-lab"
    as_nobody("mkdir", "-m", "0700", str(work))
    script = f"import json,sys; open({str(work / 'state.json')!r}, 'w').write(json.dumps(json.loads(sys.argv[1])))"
    as_nobody(sys.executable, "-c", script, json.dumps(planted_state(work)))
    panic = Path("/proc/sys/kernel/panic").read_text()
    for attempt in (lambda: lab_down(work_dir=work), lambda: lab_status(work_dir=work),
                    lambda: lab_up(work_dir=work, degraded=True)):
        with pytest.raises(LabError, match=rf"^{work}: is owned by nobody \(uid {NOBODY}\), not by root \(uid 0\)"):
            attempt()
    assert Path("/proc/sys/kernel/panic").read_text() == panic
    assert (work / "state.json").exists()  # nothing removed either
    cli = subprocess.run([sys.executable, "-m", "harness.lab", "down", "--work-dir", str(work)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert f"{work}: is owned by nobody" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1, cli.stderr


def test_a_state_that_names_what_no_lab_makes_is_refused_before_anything_is_done(tmp_path: Path) -> None:
    work = tmp_path / "lab"
    write_state(work, planted_state(work))  # root's own file, but not a lab's contents
    panic = Path("/proc/sys/kernel/panic").read_text()
    with pytest.raises(LabError, match=r"names what the lab never makes: mount root / \(is /\); .*image /etc/passwd.*"
                                       r"netns some-container \(not vlbi-\*\); veth_recorder eth0.*; nothing done"):
        lab_down(work_dir=work)
    assert Path("/proc/sys/kernel/panic").read_text() == panic and (work / "state.json").exists()


def test_a_state_file_others_can_write_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "lab"
    write_state(work, {"schema": 1, "lab": "degraded", "work_dir": str(work), "mount_root": str(work), "disks": []})
    assert oct((work / "state.json").stat().st_mode & 0o777) == "0o600" and oct(work.stat().st_mode & 0o777) == "0o700"
    assert read_state(work) is not None
    (work / "state.json").chmod(0o666)
    with pytest.raises(LabError, match=r"state\.json: is writable by others \(mode 0666\)"):
        read_state(work)
    os.chown(work / "state.json", NOBODY, NOBODY)
    (work / "state.json").chmod(0o600)
    with pytest.raises(LabError, match=r"state\.json: is owned by nobody"):
        read_state(work)


def test_symbolic_links_are_never_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write_state(real, {"schema": 1, "lab": "degraded", "work_dir": str(real), "mount_root": str(real), "disks": []})
    (tmp_path / "linked").symlink_to(real)
    with pytest.raises(LabError, match=r"linked: is a symbolic link"):
        read_state(tmp_path / "linked")
    (tmp_path / "file-link").symlink_to(real / "state.json")
    with pytest.raises(LabError, match=r"file-link: is a symbolic link"):
        read_private(tmp_path / "file-link")


def test_a_directory_above_that_another_user_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)  # they could rename our directory away and put theirs in its place
    with pytest.raises(LabError, match=rf"^{theirs}: is owned by nobody"):
        private_dir(theirs / "lab", create=True)
    assert not (theirs / "lab").exists()


def test_an_own_directory_others_can_read_is_narrowed_to_0700(tmp_path: Path) -> None:
    work = tmp_path / "lab"
    work.mkdir(mode=0o755)
    assert private_dir(work, create=False)
    assert work.stat().st_mode & 0o777 == 0o700
    work.chmod(0o777)
    with pytest.raises(LabError, match=r"is writable by others \(mode 0777\)"):
        private_dir(work, create=False)


def test_a_lock_planted_as_a_symbolic_link_is_not_followed(shared: Path) -> None:
    victim = shared / "victim"
    victim.write_text("root's file\n")
    work = shared / "lab"
    # planted by root itself, so that no kernel protection (fs.protected_*) but O_NOFOLLOW stops it being followed
    (shared / ".lab.lock").symlink_to(victim)  # the degraded lab's lock, beside its folder
    with pytest.raises(LabError, match=r"\.lab\.lock: cannot open the lab lock: Too many levels of symbolic links"):
        lab_up(work_dir=work, degraded=True)
    assert victim.read_text() == "root's file\n" and not work.exists()


def test_the_default_degraded_dir_squatted_by_another_user_is_refused(shared: Path) -> None:
    """$TMPDIR/vlbi-lab-<uid> has a name anyone can guess: one that someone else made first is never used."""
    squatted = shared / f"vlbi-lab-{os.getuid()}"
    as_nobody("mkdir", "-m", "0700", str(squatted))
    cli = subprocess.run([sys.executable, "-m", "harness.lab", "up", "--inventory", "none", "--log",
                          str(shared / "lab.log")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=False, env={**os.environ, "TMPDIR": str(shared)})
    assert cli.returncode != 0 and "Traceback" not in cli.stderr, cli.stderr
    refusal = [line for line in cli.stderr.splitlines() if "refusing" in line]
    assert len(refusal) == 1 and f"{squatted}: is owned by nobody (uid {NOBODY}), not by root (uid 0)" in refusal[0]
    assert list(squatted.iterdir()) == []


def test_a_degraded_mount_root_another_user_made_is_refused_before_anything_is_made(shared: Path) -> None:
    theirs, work = shared / "disks", shared / "w"
    as_nobody("mkdir", "-m", "0755", str(theirs))  # `up --mount-root` pointed into a shared folder
    with pytest.raises(LabError, match=rf"^{theirs}: is owned by nobody \(uid {NOBODY}\)"):
        lab_up(work_dir=work, mount_root=theirs, degraded=True)
    assert not work.exists() and list(theirs.iterdir()) == []


def test_a_degraded_disk_that_is_a_symbolic_link_is_never_followed(tmp_path: Path) -> None:
    victim, mount_root = tmp_path / "victim", tmp_path / "disks"
    victim.mkdir()
    mount_root.mkdir(mode=0o700)
    (mount_root / "disk0").symlink_to(victim)  # the recorder would write through it, `down` remove through it
    with pytest.raises(LabError, match=rf"^{mount_root}/disk0: is a symbolic link"):
        lab_up(work_dir=tmp_path / "w", mount_root=mount_root, degraded=True)
    assert victim.is_dir() and not (tmp_path / "w" / "state.json").exists()


def test_a_degraded_disk_that_changed_hands_is_refused_by_down_and_status(tmp_path: Path) -> None:
    work = tmp_path / "w"
    info = lab_up(work_dir=work, degraded=True, disks=2)
    assert all(stat_mode(m) == 0o700 for m in info.mount_points)
    os.chown(info.mount_points[1], NOBODY, NOBODY)
    for attempt in (lambda: lab_down(work_dir=work), lambda: lab_status(work_dir=work)):
        with pytest.raises(LabError, match=rf"^{info.mount_points[1]}: is owned by nobody"):
            attempt()
    assert all(Path(m).is_dir() for m in info.mount_points)  # nothing removed, not even the first disk
    os.chown(info.mount_points[1], 0, 0)
    lab_down(work_dir=work)
    assert not work.exists()


def stat_mode(path: str) -> int:
    return os.lstat(path).st_mode & 0o777
