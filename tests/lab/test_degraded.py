"""Without root the lab is loopback and plain directories, and says so once."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab import blocking_failures, lab_down, lab_status, lab_up, local, preflight


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as a user without root, as far as the lab can tell."""
    monkeypatch.setattr(local, "is_root", lambda: False)
    monkeypatch.setattr(local, "_warned_degraded", False)


def test_without_root_the_lab_is_loopback_and_directories(as_user: None, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    work = tmp_path / "work"
    with caplog.at_level(logging.WARNING, logger="harness.lab"):
        info = lab_up(log=tmp_path / "lab.log", disks=3, work_dir=work)
        again = lab_up(log=tmp_path / "lab.log", disks=3, work_dir=work)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("local lab degraded (not root): loopback (127.0.0.1)")
    assert (info.root, info.degraded, info.sender_ip, info.recorder_ip, info.sender_netns) == \
        (False, True, "127.0.0.1", "127.0.0.1", None)
    assert info.mtu == int(Path("/sys/class/net/lo/mtu").read_text())
    assert info.mount_points == [str(work / "disks" / f"disk{n}") for n in range(3)]
    assert all(Path(m).is_dir() for m in info.mount_points) and info.disk_glob == f"{work}/disks/disk*"
    assert len(info.changed) == 3 and again.changed == []
    assert info.sender_command(["vdif-send", "--dest", "127.0.0.1"]) == ["vdif-send", "--dest", "127.0.0.1"]
    assert lab_status(work_dir=work).state == "degraded"
    assert "plain directories" in (tmp_path / "lab.log").read_text()

    checks, environment = preflight(info, recorder_version=lambda: "vdif-record 0.1.0", free_bytes_needed=1 << 20)
    assert not blocking_failures(checks) and all(c.passed for c in checks), [c for c in checks if c.blocking]
    disk_check = next(c for c in checks if c.name == f"recorder disk {info.mount_points[0]}")
    assert disk_check.detail.startswith("degraded lab: plain directory on ") and "not XFS" in disk_check.detail
    tuning = [c for c in checks if c.name.startswith("recorder sysctl ")]
    assert len(tuning) == 6 and all(c.advisory and "degraded lab: not tuned" in c.detail for c in tuning)
    assert not next(c for c in checks if c.name == "recorder free space").advisory
    assert environment["lab"] == "degraded" and environment["recorder_version"] == "vdif-record 0.1.0"
    assert environment["nodes"]["recorder"]["interfaces"]["lo"] == info.mtu

    removed = lab_down(work_dir=work)
    assert f"directory {info.mount_points[0]}" in removed and not work.exists()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vlbi-lab-nobody-"))
    path.chmod(0o1777)  # as /tmp: everyone may write, the sticky bit keeps them to their own entries
    yield path
    shutil.rmtree(path)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody (setpriv)")
def test_the_cli_as_a_real_user_without_root(shared_tmp: Path) -> None:
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-m", "harness.lab"]
    common = ["--work-dir", str(shared_tmp / "w"), "--log", str(shared_tmp / "lab.log")]
    up = subprocess.run([*nobody, "up", *common], capture_output=True, text=True, timeout=60, cwd="/", check=False)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("degraded lab (no root): loopback, plain directories")
    assert up.stderr.count("local lab degraded (not root)") == 1
    assert (shared_tmp / "w" / "disks" / "disk1").is_dir()
    down = subprocess.run([*nobody, "down", *common], capture_output=True, text=True, timeout=60, cwd="/",
                          check=False)
    assert down.returncode == 0 and not (shared_tmp / "w").exists(), down.stderr
