"""Paths root can trust: made by this user, writable by no one else, reached without a symlink.

The lab runs as root on shared machines. Its state file names what `down` unmounts, detaches, kills and
removes, and which sysctls it restores, so a state file (or its directory, or a key) that another user could
have written or replaced is refused with one line naming it, before anything acts on it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from harness.lab.errors import LabError

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _who(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _refuse(path: Path, why: str) -> LabError:
    return LabError(f"{path}: {why}; refusing to trust it (the lab runs as root; remove it if it is not yours)")


def check_ancestors(path: Path) -> None:
    """Every directory above ``path`` is owned by root or this user, and writable by others only if sticky
    (as /tmp is): nobody else can then swap ``path`` for something of theirs."""
    me = os.geteuid()
    for parent in Path(os.path.abspath(path)).parents:
        try:
            info = parent.lstat()
        except FileNotFoundError:
            continue  # made below, by us
        if stat.S_ISLNK(info.st_mode):
            raise _refuse(parent, "is a symbolic link")
        if info.st_uid not in (0, me):
            raise _refuse(parent, f"is owned by {_who(info.st_uid)}")
        if info.st_mode & _OTHERS_WRITE and not info.st_mode & stat.S_ISVTX:
            raise _refuse(parent, f"is writable by others (mode {stat.S_IMODE(info.st_mode):04o}) and not sticky")


def check_owned(path: Path, info: os.stat_result) -> None:
    """``info`` (an lstat or fstat of ``path``) is this user's and writable by no one else."""
    if info.st_uid != os.geteuid():
        raise _refuse(path, f"is owned by {_who(info.st_uid)}, not by {_who(os.geteuid())}")
    if info.st_mode & _OTHERS_WRITE:
        raise _refuse(path, f"is writable by others (mode {stat.S_IMODE(info.st_mode):04o})")


def private_dir(path: Path, *, create: bool) -> bool:
    """Check (and with ``create``, make) a directory of this user's, mode 0700. Returns whether it exists.

    An existing directory of this user's that others can read is narrowed to 0700; one that is not this user's,
    is a symbolic link, or that others can write is refused.
    """
    check_ancestors(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        if not create:
            return False
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        check_ancestors(path)  # again: a missing parent may have been made by someone else meanwhile
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below like any other
            path.mkdir(mode=0o700)
        info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "is not a directory" if not stat.S_ISLNK(info.st_mode) else "is a symbolic link")
    check_owned(path, info)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700, follow_symlinks=False)
    return True


def read_private(path: Path) -> str | None:
    """The text of a file of this user's that no one else can write (None if there is none); never a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise _refuse(path, "is a symbolic link") from None
        raise LabError(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd) as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, "is not a regular file")
        check_owned(path, info)
        return handle.read()
