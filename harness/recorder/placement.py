"""Where a recording really landed, and what the recorder's log said meanwhile (thin file-system edge).

A mount point unmounted under a recorder leaves its directory behind on the filesystem below (usually the
root): a recorder that keeps writing there fills the root filesystem, and the chunks look like any others.
So the filesystem (st_dev) of each mount point is taken when the recorder is configured, and every chunk
found at the end of a scan must be on its mount point's.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.recorder.reference.sinks import mount_of

LOG_NAME = "recorder.log"
MAX_LOG_LINES = 200
"""The most log lines one scan keeps: a recorder that logs every packet must not fill results.json."""


def mount_devices(mounts: list[str]) -> dict[str, int]:
    """The filesystem each mount point is on now (those that cannot be read are left out)."""
    found = {}
    for mount in mounts:
        try:
            found[mount] = os.stat(mount).st_dev
        except OSError:
            continue
    return found


def misplaced_chunks(files: list[str], devices: dict[str, int]) -> list[str]:
    """One line per chunk not on the filesystem its mount point had when configured (``<mount>/<scan>/<chunk>``)."""
    lines = []
    for path in files:
        mount = str(Path(path).parent.parent)
        then = devices.get(mount)
        try:
            now = os.stat(path).st_dev
        except OSError:
            continue
        if then is not None and now != then:
            lines.append(f"{path} is not on its mount point {mount}'s filesystem but on {mount_of(path)}'s: "
                         f"{mount} is no longer mounted and the recorder wrote below it")
    return lines


def log_size(log_dir: Path) -> int:
    """Bytes in the recorder's log now (0 when there is none, e.g. an attached recorder)."""
    try:
        return (log_dir / LOG_NAME).stat().st_size
    except OSError:
        return 0


def log_lines_since(log_dir: Path, offset: int) -> list[str]:
    """The recorder's log lines written after ``offset`` (the first MAX_LOG_LINES)."""
    try:
        with (log_dir / LOG_NAME).open("rb") as log:
            log.seek(offset)
            text = log.read(1 << 20).decode(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()][:MAX_LOG_LINES]
