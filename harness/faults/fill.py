"""``python -m harness.faults.fill DIR --leave BYTES``: take a mount point's free space with filler files in a
hidden directory, fast (fallocate: no data written), down to ``leave`` bytes or what the filesystem keeps back.
Prints what it took as JSON. Run on the recorder node."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.arguments import OneLineParser

SMALLEST = 1 << 20
"""Below this the filesystem is as full as it lets a file get (XFS keeps some blocks back from fallocate)."""


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(directory: Path, leave: int) -> tuple[int, int]:
    """Filler files in ``directory`` (made here) until at most ``leave`` bytes are free; (files, bytes)."""
    directory.mkdir(mode=0o700)
    files, taken = 0, 0
    chunk = max(SMALLEST, (free_bytes(directory) - leave) // 2)
    while chunk >= SMALLEST:
        want = free_bytes(directory) - leave
        if want < SMALLEST:
            break
        size = min(chunk, want)
        path = directory / f"{files:06d}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError:  # refused: gone again, then half as much
            os.close(fd)
            path.unlink()
            chunk //= 2
            continue
        os.close(fd)
        files += 1
        taken += size
    return files, taken


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m harness.faults.fill", description=__doc__)
    parser.add_argument("directory", type=Path, help="the filler directory to make, inside the mount point")
    parser.add_argument("--leave", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.directory.parent.is_dir() or args.directory.exists():
        parser.error(f"{args.directory}: its parent must be a directory and it must not exist yet")
    files, taken = fill(args.directory, max(0, args.leave))
    print(json.dumps({"files": files, "filled_bytes": taken, "free_bytes": free_bytes(args.directory.parent)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
