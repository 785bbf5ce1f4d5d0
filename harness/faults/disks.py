"""Faults of the recorder's disks: a mount point filled, failing at the device, or unmounted under the recorder."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from harness.faults.injector import Injector
from harness.faults.schema import DiskFail, DiskFull, DiskGone
from harness.faults.site import FaultError, FaultSite

FILLER = ".vlbi-fault-fill"
IMMUTABLE_REFUSES_WRITES = ("ext4", "ext3", "ext2")
"""Backing filesystems whose write path refuses a write to an immutable file (EPERM), so that a loop device over an
image there fails every write at the device. Tried here on ext4; others (xfs, tmpfs) are not assumed."""
REMOUNT_WAIT_S = 15.0
"""How long after the scan closed the unmounted disk may stay busy (its last files being closed)."""


def _mount(injector: Injector, index: int) -> str:
    mounts = injector.context.mount_points
    if index >= len(mounts):
        raise FaultError(f"mount {index}: the recorder has {len(mounts)} mount points ({', '.join(mounts)})")
    return mounts[index]


def _mounted(injector: Injector, mount: str) -> tuple[str, str, str]:
    """The device, filesystem type and options ``mount`` is mounted with on the recorder node."""
    found = injector.site.on_recorder(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--mountpoint", mount]).split()
    if len(found) != 3:
        raise FaultError(f"{mount} is not a mount point")
    return found[0], found[1], found[2]


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


class FailDisk(Injector):
    """Writes to one mount point fail at the device: the backing image of its loop device made immutable
    (``chattr +i``), so the loop driver's every write gets EPERM and the filesystem sees an I/O error (EIO), while
    it still believes it has space. Made writable again at the end; a filesystem that shut itself down meanwhile
    (a log write failed) is mounted again once the recorder has closed the scan.

    A block-device disk needs device-mapper's error target (dm-error) instead, which this harness does not drive."""

    fault: DiskFail
    mechanism = "chattr +i of the loop device's backing image (the device's writes fail: EIO)"

    def apply(self) -> None:
        self.mount = _mount(self, self.fault.mount)
        self.device, self.fstype, self.options = _mounted(self, self.mount)
        if not self.device.startswith("/dev/loop"):
            raise FaultError(f"disk_fail: {self.mount} is on {self.device}, not an image file; failing a block "
                             "device needs device-mapper's error target (dm-error), which the harness does not drive")
        self.backing = self.site.on_recorder(["losetup", "-n", "-O", "BACK-FILE", self.device]).strip()
        under = self.site.on_recorder(["findmnt", "-n", "-o", "FSTYPE", "--target", self.backing]).strip()
        if under not in IMMUTABLE_REFUSES_WRITES:
            raise FaultError(f"disk_fail: {self.mount}'s image {self.backing} is on {under or 'an unknown filesystem'}"
                             f", whose writes to an immutable file are not known to fail (only "
                             f"{', '.join(IMMUTABLE_REFUSES_WRITES)})")
        self.writes_before = _device_writes(self.site, self.device)
        self.site.undo_on_recorder(self.key, ["chattr", "-i", "--", self.backing])
        self.site.on_recorder(["chattr", "+i", "--", self.backing])
        self.failing = True

    def remove(self) -> dict[str, Any]:
        if not getattr(self, "failing", False):
            return {}
        writes = _device_writes(self.site, self.device)
        self.site.on_recorder(["chattr", "-i", "--", self.backing], check=False)
        self.failing = False
        self.site.undo_on_recorder(self.key, None)
        self.found: dict[str, Any] = {"mount": self.mount, "device": self.device, "image": self.backing,
                                      "device_writes_failed": writes[0] - self.writes_before[0],
                                      "sectors_failed": writes[1] - self.writes_before[1]}
        return self.found

    def after_close(self) -> dict[str, Any]:
        """A filesystem that shut down on a failed log write answers EIO to everything: mounted again (its log
        replayed), so that the chunks it holds can be validated."""
        if not hasattr(self, "found"):
            return {}
        probe = f"{self.mount}/{FILLER}-probe-{self.index}"
        try:
            self.site.on_recorder(["sh", "-c", 'touch -- "$1" && rm -f -- "$1"', "sh", probe])
            return {"filesystem": "still writable after the fault"}
        except FaultError as exc:
            self._mount_again()
            return {"filesystem": f"shut down ({str(exc).rpartition(': ')[2]}); mounted again after the scan"}

    def _mount_again(self) -> None:
        self.site.on_recorder(["umount", self.mount])
        attached = self.site.on_recorder(["losetup", "-n", "-O", "BACK-FILE", self.device],
                                         check=False).strip() == self.backing
        self.site.on_recorder(["mount", "-t", self.fstype, "-o", ("" if attached else "loop,") + self.options,
                               self.device if attached else self.backing, self.mount])
        if not attached:
            device = self.site.on_recorder(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", self.mount])
            self.site.on_recorder(["losetup", "--direct-io=on", device.strip()], check=False)


def _device_writes(site: FaultSite, device: str) -> tuple[int, int]:
    """Write requests and sectors the block device completed, failed ones too (/sys/block/<dev>/stat)."""
    fields = site.on_recorder(["cat", f"/sys/block/{Path(device).name}/stat"]).split()
    return int(fields[4]), int(fields[6])


class UnmountDisk(Injector):
    """``umount -l`` of one mount point (the recorder's open files keep their filesystem; new ones land on
    whatever is under the mount point); mounted again at the end, from the same device."""

    fault: DiskGone
    mechanism = "umount -l, then mount of the same device"

    def apply(self) -> None:
        self.mount = _mount(self, self.fault.mount)
        self.device, self.fstype, self.options = _mounted(self, self.mount)
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
