"""Faults of the recorder's disks: a mount point filled, or unmounted under the recorder."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from harness.faults.injector import Injector
from harness.faults.schema import DiskFull, DiskGone
from harness.faults.site import FaultError

FILLER = ".vlbi-fault-fill"
REMOUNT_WAIT_S = 15.0
"""How long after the scan closed the unmounted disk may stay busy (its last files being closed)."""


def _mount(injector: Injector, index: int) -> str:
    mounts = injector.context.mount_points
    if index >= len(mounts):
        raise FaultError(f"mount {index}: the recorder has {len(mounts)} mount points ({', '.join(mounts)})")
    return mounts[index]


class FillDisk(Injector):
    """Filler files that take all but ``leave`` bytes of one mount point's free space, removed afterwards."""

    fault: DiskFull
    mechanism = "fallocate of filler files (harness.faults.fill)"

    def apply(self) -> None:
        self.mount = _mount(self, self.fault.mount)
        self.path = f"{self.mount}/{FILLER}-{self.index}"
        self.site.undo_on_recorder(self.key, ["rm", "-rf", "--", self.path])
        out = self.site.on_recorder([sys.executable, "-m", "harness.faults.fill", self.path, "--leave",
                                     str(self.fault.leave)], timeout=120)
        try:
            self.filled: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise FaultError(f"harness.faults.fill said nothing it filled: {out.strip()[-200:]!r}") from None

    def remove(self) -> dict[str, Any]:
        path = getattr(self, "path", None)
        if path is None:
            return {}
        self.site.on_recorder(["rm", "-rf", "--", path], check=False)
        self.site.undo_on_recorder(self.key, None)
        return {"mount": self.mount, **getattr(self, "filled", {})}


class UnmountDisk(Injector):
    """``umount -l`` of one mount point (the recorder's open files keep their filesystem; new ones land on
    whatever is under the mount point); mounted again at the end, from the same device."""

    fault: DiskGone
    mechanism = "umount -l, then mount of the same device"

    def apply(self) -> None:
        self.mount = _mount(self, self.fault.mount)
        found = self.site.on_recorder(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--mountpoint",
                                       self.mount]).split()
        if len(found) != 3:
            raise FaultError(f"{self.mount} is not a mount point")
        self.device, self.fstype, self.options = found
        # an image file's loop device is cleared once its filesystem is gone: mounted again from the image
        self.backing = self.site.on_recorder(["losetup", "-n", "-O", "BACK-FILE", self.device], check=False).strip() \
            if self.device.startswith("/dev/loop") else ""
        self.site.undo_on_recorder(self.key, self._mount_argv(self.backing or self.device))
        self.site.on_recorder(["umount", "-l", self.mount])
        self.gone = True

    def _mount_argv(self, source: str) -> list[str]:
        loop = "loop," if source == self.backing and self.backing else ""
        return ["mount", "-t", self.fstype, "-o", f"{loop}{self.options}", source, self.mount]

    def remove(self) -> dict[str, Any]:
        if not getattr(self, "gone", False):
            return {}
        self.landed = _landed(self.mount) if self.site.local_recorder else None
        try:
            self._mount_again()
        except FaultError:  # the recorder still holds files of the unmounted filesystem: once it has closed them
            self.deferred = True
        return self._found()

    def after_close(self) -> dict[str, Any]:
        if not getattr(self, "gone", False):
            return {}
        deadline = time.monotonic() + REMOUNT_WAIT_S
        while True:
            try:
                self._mount_again()
                return self._found()
            except FaultError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _mount_again(self) -> None:
        mounted = self.site.on_recorder(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", self.mount], check=False)
        if not mounted.strip():
            attached = self.backing and self.site.on_recorder(["losetup", "-n", "-O", "BACK-FILE", self.device],
                                                              check=False).strip() == self.backing
            source = self.device if attached or not self.backing else self.backing
            self.site.on_recorder(self._mount_argv(source))
            if source == self.backing:  # as the lab set it up: direct I/O on the loop device
                device = self.site.on_recorder(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", self.mount])
                self.site.on_recorder(["losetup", "--direct-io=on", device.strip()], check=False)
        self.gone = False
        self.site.undo_on_recorder(self.key, None)

    def _found(self) -> dict[str, Any]:
        found: dict[str, Any] = {"mount": self.mount, "device": self.device,
                                 "mounted_again": "after the scan closed" if getattr(self, "deferred", False) and
                                 not self.gone else "at the fault's end" if not self.gone else "not yet"}
        if getattr(self, "landed", None) is not None:
            found["landed_on_parent_fs"] = self.landed
        return found


def _landed(mount: str) -> dict[str, Any]:
    """What was written into the bare mount-point directory while its disk was gone (the root filesystem)."""
    files, total = [], 0
    for root, _dirs, names in os.walk(mount):
        for name in names:
            path = Path(root, name)
            try:
                total += path.lstat().st_size
            except OSError:
                continue
            files.append(str(path))
    return {"files": len(files), "bytes": total, "first": sorted(files)[:5]}
