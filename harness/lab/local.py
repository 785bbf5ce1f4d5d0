"""The local lab: up (through ansible/site.yml and inventory/local.yml), status, down; loopback without root.

As root, `lab_up` runs the same playbook and roles as a real lab against this machine: the local_lab role
makes the loop images, the sender namespace, its veth and sshd, and records them in a state file; the
other roles format and mount the disks, tune the kernel and set the MTU. Without root the lab degrades to
loopback and plain directories, and says so once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.lab.commands import lab_log
from harness.lab.confine import check_state
from harness.lab.errors import LabError
from harness.lab.info import LabInfo
from harness.lab.runner import ANSIBLE_DIR, LOCAL_INVENTORY, SITE_PLAYBOOK, run_playbook
from harness.lab.state import (
    DEFAULT_WORK_DIR,
    MULTINODE_WORK_DIR,
    LabStatus,
    default_work_dir,
    info_from_state,
    probe,
    read_state,
    state_path,
    write_state,
)
from harness.lab.teardown import teardown
from harness.lab.trust import check_ancestors, check_owned, private_dir

logger = logging.getLogger("harness.lab")

OLD_WORK_DIR = Path("/var/tmp/vlbi-lab")
"""Where harness 0.1.0 before this change kept root's lab (world-writable /var/tmp): refused while up there."""
DEFAULT_DISKS = 2
DEFAULT_DISK_SIZE = "12G"
_SIZE = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_warned_degraded = False


def is_root() -> bool:
    return os.geteuid() == 0


def resolve_inventory(inventory: str | Path | None) -> Path | None:
    """'local' or None -> the local inventory; 'none' -> no inventory (loopback); else a path (cwd or repo)."""
    if inventory is None or str(inventory) == "local":
        return LOCAL_INVENTORY
    if str(inventory) == "none":
        return None
    path = Path(inventory)
    if not path.is_absolute() and not path.exists():
        beside = ANSIBLE_DIR.parent / path
        if beside.exists():
            return beside
    return path


def _is_local_inventory(path: Path) -> bool:
    if not path.is_file():
        raise LabError(f"no such inventory: {path}")
    return path.resolve() == LOCAL_INVENTORY.resolve() or "local_lab:" in path.read_text()


@contextmanager
def _lab_lock(work_dir: Path) -> Iterator[None]:
    """One up/down at a time on this machine (scenario runs under xdist may race for the lab)."""
    if work_dir == DEFAULT_WORK_DIR and is_root():
        lock = Path("/run/vlbi-lab.lock")  # /run is root's alone (/run/lock is writable by everyone)
    else:
        lock = work_dir.parent / f".{work_dir.name}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
    check_ancestors(lock)
    try:  # never through a symbolic link planted in a shared directory, never someone else's file
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LabError(f"{lock}: cannot open the lab lock: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        check_owned(lock, os.fstat(handle.fileno()))
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _warn_degraded(reason: str) -> None:
    global _warned_degraded
    if not _warned_degraded:
        logger.warning("local lab degraded (%s): loopback (127.0.0.1) and plain directories, no XFS loop disks, "
                    "no sender namespace, no jumbo-frame veth, no sysctl tuning", reason)
        _warned_degraded = True


def _degraded_up(work_dir: Path, disks: int, mount_root: Path | None, reason: str) -> LabInfo:
    _warn_degraded(reason)
    root_dir = mount_root or work_dir / "disks"
    # the mount root may lie outside the work dir (--mount-root): checked before either is made, so that a
    # directory someone else made (or a link they planted) is refused before anything is put into it
    for folder in (work_dir, root_dir):
        private_dir(folder, create=False)
    private_dir(work_dir, create=True)
    state = read_state(work_dir)
    if state and state.get("lab") == "degraded":
        _check_layout(state, disks, None, root_dir)
    private_dir(root_dir, create=True)
    made = []
    for n in range(disks):
        disk = root_dir / f"disk{n}"
        if not private_dir(disk, create=False):
            private_dir(disk, create=True)
            made.append(str(disk))
    state = {"schema": 1, "lab": "degraded", "work_dir": str(work_dir), "mount_root": str(root_dir),
             "disks": [{"mount": str(root_dir / f"disk{n}")} for n in range(disks)],
             "state_file": str(state_path(work_dir))}
    write_state(work_dir, state)
    logger.info("degraded lab: %d plain directories under %s%s", disks, root_dir, f" (made {made})" if made else "")
    return info_from_state(state, changed=[f"made {m}" for m in made])


def _size_bytes(size: str) -> int | str:
    """12G and 12288M are the same disk (text that is no size compares as itself)."""
    if not _SIZE.match(size):
        return size
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def _check_layout(state: dict[str, Any], disks: int | None, disk_size: str | None, mount_root: Path | None) -> None:
    """Refuse to silently reshape a lab that is up: its disks may hold recordings."""
    have_disks = len(state.get("disks", []))
    differences = []
    if disks is not None and disks != have_disks:
        differences.append(f"{have_disks} disks, not {disks}")
    if disk_size is not None and state.get("disk_size") is not None and \
            _size_bytes(str(state["disk_size"])) != _size_bytes(disk_size):
        differences.append(f"disks of {state.get('disk_size')}, not {disk_size}")
    if mount_root is not None and Path(state["mount_root"]) != Path(mount_root):
        differences.append(f"mounted under {state['mount_root']}, not {mount_root}")
    if differences:
        raise LabError("the local lab is already up with " + ", ".join(differences)
                       + ": take it down first (python -m harness.lab down)")


def lab_up(inventory: str | Path | None = "ansible/inventory/local.yml", log: Path | None = None,
           disks: int | None = None, disk_size: str | None = None, mount_root: str | Path | None = None, *,
           work_dir: Path | None = None, converge: bool = True, degraded: bool | None = None,
           timeout: float = 900.0) -> LabInfo:
    """Bring the local lab up (idempotent: a lab that is up is reused and converged again).

    disks/disk_size default to those of a lab that is up, else 2 x 12G sparse images. converge=False skips
    the Ansible run when every part of the lab is already there. `info.changed` names the tasks that changed
    (empty on a second `up`). Without root (or with inventory 'none', or degraded=True) the lab is loopback
    and plain directories. Raises PlaybookFailed (host, task, message) when a task fails.
    """
    root = is_root()
    inventory_path = resolve_inventory(inventory)
    if degraded is None:
        degraded = not root or inventory_path is None
    work_dir = Path(os.path.abspath(work_dir)) if work_dir else default_work_dir(not degraded)
    root_dir = Path(os.path.abspath(mount_root)) if mount_root is not None else None
    if inventory_path is not None and not degraded and not inventory_path.is_file():
        raise LabError(f"no such inventory: {inventory_path}")  # before waiting on the lab lock
    if root and not degraded and work_dir == DEFAULT_WORK_DIR and os.path.exists(OLD_WORK_DIR / "state.json"):
        raise LabError(f"a lab made by an older harness is up ({OLD_WORK_DIR}/state.json): take it down first "
                       f"with python -m harness.lab down --work-dir {OLD_WORK_DIR}")
    if disks is not None and not 1 <= disks <= 64:
        raise LabError(f"disks must be 1..64, not {disks}")
    if disk_size is not None and not _SIZE.match(disk_size):
        raise LabError(f"disk_size must look like 12G, 512M or 1T, not {disk_size!r}")
    with lab_log(log), _lab_lock(work_dir):
        if degraded:
            reason = "not root" if not root else "no inventory"
            return _degraded_up(work_dir, disks or DEFAULT_DISKS, root_dir, reason)
        if inventory_path is None or not _is_local_inventory(inventory_path):
            raise LabError(f"{inventory}: lab_up drives the local lab (an inventory with a local_lab group); "
                           "provision a real lab with python -m harness.lab provision --inventory ...")
        state = read_state(work_dir)
        if state is not None and state.get("lab") != "degraded":
            _check_layout(state, disks, disk_size, root_dir)
            if root_dir is None:
                root_dir = Path(state["mount_root"])
            if not converge and probe(state, work_dir).state == "up":
                logger.info("local lab is up (%s); not converging again", state_path(work_dir))
                return info_from_state(state)
        extravars: dict[str, Any] = {"local_lab_work_dir": str(work_dir),
                                     "local_lab_disk_count": disks or DEFAULT_DISKS,
                                     "local_lab_disk_size": disk_size or DEFAULT_DISK_SIZE}
        if root_dir is not None:
            extravars["local_lab_mount_root"] = str(root_dir)
        started = time.monotonic()
        run = run_playbook(SITE_PLAYBOOK, inventory_path, extravars=extravars, timeout=timeout, log_path=log)
        run.raise_for_failure()
        state = read_state(work_dir)
        if state is None:
            raise LabError(f"{SITE_PLAYBOOK.name} ran but wrote no lab state at {state_path(work_dir)}: "
                           f"does {inventory_path} put this host in the local_lab group?")
        info = info_from_state(state, changed=run.changed)
        logger.info("local lab up in %.1f s: %s", time.monotonic() - started, run.summary())
        return info


def lab_down(log: Path | None = None, *, work_dir: Path | None = None, every_lab: bool = False) -> list[str]:
    """Take the local lab down (``every_lab``: also the namespace lab of inventory/multinode.yml): everything their
    state files name, nothing else. Returns what was removed."""
    removed: list[str] = []
    candidates = [*_candidates(work_dir), *([MULTINODE_WORK_DIR] if every_lab and not work_dir else [])]
    with lab_log(log):
        for candidate in candidates:
            if (candidate == DEFAULT_WORK_DIR and not is_root()) or not os.path.exists(state_path(candidate)):
                continue  # (a user without root cannot take root's lab down)
            with _lab_lock(candidate):
                state = _read_candidate(candidate, explicit=work_dir is not None)
                if state is None:
                    continue
                kind = {"degraded": "degraded lab", "netns": "namespace lab"}.get(str(state.get("lab")), "local lab")
                removed += teardown(state, candidate)
                logger.info("%s down: removed %d parts", kind, len(removed))
    return removed


def lab_status(*, work_dir: Path | None = None) -> LabStatus:
    """Whether the lab is up, down, partly up (naming what is missing) or degraded."""
    candidates = _candidates(work_dir)
    for candidate in candidates:
        if candidate == DEFAULT_WORK_DIR and not is_root():
            continue  # root's lab: not this user's to read
        state = _read_candidate(candidate, explicit=work_dir is not None)
        if state is not None:
            check_state(state, candidate)  # status reads pidfiles the state names: only the lab's own
            return probe(state, candidate)
    return LabStatus("down", str(candidates[0]))


def _candidates(work_dir: Path | None) -> list[Path]:
    if work_dir:
        return [Path(os.path.abspath(work_dir))]
    return [default_work_dir(is_root()), default_work_dir(not is_root())]


def _read_candidate(candidate: Path, *, explicit: bool) -> dict[str, Any] | None:
    """A lab's state; one this user did not ask for by name that it cannot trust (e.g. someone else's
    /tmp/vlbi-lab-0 planted beside root's lab) is passed over with a warning, not an error that stops every run."""
    try:
        return read_state(candidate)
    except LabError as exc:
        if explicit or candidate == default_work_dir(is_root()):
            raise
        logger.warning("ignoring %s", exc)
        return None
