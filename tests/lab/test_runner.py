"""ansible-runner from Python on small targeted playbooks: failures, unreachable hosts, idempotence, syntax."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.lab import LabError, PlaybookFailed, commands, run_playbook
from harness.lab.commands import lab_log
from harness.lab.runner import ANSIBLE_DIR, SITE_PLAYBOOK

PLAYBOOKS = Path(__file__).parent / "playbooks"


def _inventory(tmp_path: Path, **hostvars: object) -> Path:
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}", **hostvars}
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps({"all": {"hosts": {"testnode": host}}}))
    return path


def test_a_failed_task_is_one_error_naming_host_task_and_message(tmp_path: Path) -> None:
    log = tmp_path / "lab.log"
    with lab_log(log):
        run = run_playbook(PLAYBOOKS / "broken_task.yml", _inventory(tmp_path, marker=str(tmp_path / "m")),
                           log_path=log)
    assert not run.ok and run.changed == ["testnode: Write a marker"]
    with pytest.raises(PlaybookFailed) as caught:
        run.raise_for_failure()
    failure = caught.value
    assert (failure.host, failure.task) == ("testnode", "Fail with a message")
    assert "disk on fire" in failure.message
    assert str(failure).startswith("broken_task.yml: task 'Fail with a message' failed on testnode:")
    text = log.read_text()  # the task results were streamed into the run log as they came
    assert "changed     testnode   Write a marker" in text
    assert "FAILED      testnode   Fail with a message: non-zero return code | disk on fire" in text


def test_an_unreachable_host_is_named(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"gone": {
        "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody",
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={tmp_path}/kh -o StrictHostKeyChecking=no"}}}}))
    run = run_playbook(PLAYBOOKS / "converge.yml", inventory, extravars={"target": str(tmp_path / "t")})
    assert [f.host for f in run.failures] == ["gone"] and run.failures[0].unreachable
    with pytest.raises(PlaybookFailed, match=r"failed on gone: .*(refused|port 1)"):
        run.raise_for_failure()


def test_a_second_run_changes_nothing_or_names_what_changed(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, target=str(tmp_path / "kept.conf"))
    first = run_playbook(PLAYBOOKS / "converge.yml", inventory)
    second = run_playbook(PLAYBOOKS / "converge.yml", inventory)
    assert first.ok and first.changed == ["testnode: Keep a file"]
    assert second.ok and second.changed == [] and second.summary() == "no change"
    third = run_playbook(PLAYBOOKS / "converge.yml", inventory, extravars={"always_changes": True})
    assert third.summary() == "1 changed: testnode: A task that always changes"


@pytest.mark.parametrize("inventory", ["local.yml", "lab.example.yml"])
def test_site_playbook_passes_syntax_check(inventory: str) -> None:
    result = commands.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                           "-i", str(ANSIBLE_DIR / "inventory" / inventory), str(SITE_PLAYBOOK)],
                          env={"ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg")}, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.ext4"), reason="needs root and mkfs.ext4")
def test_xfs_disks_refuses_a_device_that_holds_another_filesystem(tmp_path: Path) -> None:
    image = tmp_path / "foreign.img"
    with image.open("wb") as handle:
        handle.truncate(64 << 20)
    commands.run(["mkfs.ext4", "-q", "-F", str(image)], timeout=60)
    inventory = _inventory(tmp_path, xfs_disks_list=[{"device": str(image), "mount": str(tmp_path / "disk0")}],
                           xfs_disks_fstab=False)
    run = run_playbook(PLAYBOOKS / "xfs_disks.yml", inventory)
    with pytest.raises(PlaybookFailed) as caught:
        run.raise_for_failure()
    assert caught.value.task == "xfs_disks : Refuse to format a device that holds something else"
    assert f"refusing to format {image}" in caught.value.message and "TYPE=ext4" in caught.value.message
    assert "xfs_disks_force=true" in caught.value.message
    assert commands.run(["blkid", "-o", "value", "-s", "TYPE", str(image)], timeout=10).stdout.strip() == "ext4"
    assert not (tmp_path / "disk0").exists()  # refused before anything was made


@pytest.mark.slow
def test_roles_pass_ansible_lint_production_profile() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"  # pinned in requirements.lock, installed beside pytest
    assert lint.exists(), f"{lint} is missing: ansible-lint is in requirements.lock, run make deps"
    result = commands.run([str(lint), "--offline"], timeout=300, check=False,
                          env={"PATH": os.environ.get("PATH", "")}, cwd=ANSIBLE_DIR)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_a_playbook_ansible_refuses_is_named_with_ansible_s_last_words(tmp_path: Path) -> None:
    log = tmp_path / "lab.log"
    with lab_log(log):
        run = run_playbook(PLAYBOOKS / "bad_syntax.yml", _inventory(tmp_path), log_path=log)
    assert run.status == "failed" and not run.failures
    with pytest.raises(LabError, match=r"bad_syntax\.yml: ansible-playbook ended failed with exit code 4 before any"):
        run.raise_for_failure()
    assert "no_such_module_anywhere" in log.read_text()


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mkfs.xfs"), reason="needs root and xfsprogs")
def test_xfs_disks_formats_mounts_keeps_fstab_and_fixes_options_like_on_a_real_node(tmp_path: Path) -> None:
    image, mount, fstab = tmp_path / "disk.img", tmp_path / "disk0", tmp_path / "fstab"
    with image.open("wb") as handle:
        handle.truncate(320 << 20)  # XFS's smallest
    fstab.write_text("# test fstab\n")
    inventory = _inventory(tmp_path, xfs_disks_list=[{"device": str(image), "mount": str(mount), "label": "vlbitest0"}],
                           xfs_disks_fstab_file=str(fstab), xfs_disks_mkfs_options=["-K"])
    try:
        first = run_playbook(PLAYBOOKS / "xfs_disks.yml", inventory)
        first.raise_for_failure()
        assert "testnode: xfs_disks : Format with XFS" in first.changed
        found = commands.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", str(mount)], timeout=10).stdout.split()
        assert found[0] == "xfs" and "noatime" in found[1].split(",")
        uuid = commands.run(["blkid", "-o", "value", "-s", "UUID", str(image)], timeout=10).stdout.strip()
        assert fstab.read_text().splitlines()[-1] == f"UUID={uuid} {mount} xfs noatime,nofail 0 0"
        (mount / "scan001").mkdir()                                 # a recording on the disk
        commands.run(["umount", str(mount)], timeout=30)
        commands.run(["mount", "-o", "loop", str(image), str(mount)], timeout=30)    # by hand, without noatime
        second = run_playbook(PLAYBOOKS / "xfs_disks.yml", inventory)
        assert second.ok and second.changed == ["testnode: xfs_disks : Switch the loop devices to direct I/O",
                                                "testnode: xfs_disks : Remount disks that lack the FlexBuff options"]
        loop = commands.run(["findmnt", "-n", "-o", "SOURCE", str(mount)], timeout=10).stdout.strip()
        assert commands.run(["losetup", "-n", "-O", "DIO", loop], timeout=10).stdout.strip() == "1"
        assert (mount / "scan001").is_dir()                        # XFS already there: never formatted again
        third = run_playbook(PLAYBOOKS / "xfs_disks.yml", inventory)
        assert third.ok and third.changed == []
    finally:
        commands.run(["umount", str(mount)], timeout=30, check=False)
