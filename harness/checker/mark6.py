"""Mark6 scatter-gather scans: one file per disk, blocks numbered across all disks.

Layout (jive5ab ``record=mk6:1``, all little-endian): a 20-byte file header
(u32 sync 0xfeed6666, i32 version 2, i32 block size, i32 packet format 0 = VDIF, i32 packet size),
then records ``[i32 block number][i32 wb_size = payload + 8][payload]``. The recording is the
payloads ordered by block number; a missing or repeated number is a finding.
"""

from __future__ import annotations

import glob
import os
import struct
from dataclasses import dataclass

from harness.checker.errors import CheckerError
from harness.checker.readers import Recording, Segment, mount_points
from harness.checker.result import Finding

SYNC = 0xFEED6666
FILE_HEADER = struct.Struct("<Iiiii")
BLOCK_HEADER = struct.Struct("<ii")
PACKET_FORMATS = {0: "VDIF", 1: "Mark5B", 2: "unknown"}


@dataclass(frozen=True)
class Mark6FileHeader:
    version: int
    block_size: int
    packet_format: int
    packet_size: int


def read_file_header(path: str) -> Mark6FileHeader:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(FILE_HEADER.size)
    except OSError as exc:
        raise CheckerError(path, f"cannot read: {exc.strerror}") from None
    if len(raw) < FILE_HEADER.size:
        raise CheckerError(path, f"only {len(raw)} bytes: no Mark6 file header")
    sync, version, block_size, packet_format, packet_size = FILE_HEADER.unpack(raw)
    if sync != SYNC:
        raise CheckerError(path, f"not a Mark6 scatter-gather file (sync word 0x{sync:08x}, not 0x{SYNC:08x})")
    if version != 2:
        raise CheckerError(path, f"Mark6 scatter-gather version {version}: only version 2 is read")
    if packet_format != 0:
        name = PACKET_FORMATS.get(packet_format, str(packet_format))
        raise CheckerError(path, f"Mark6 packet format {name}: only VDIF (0) is checked")
    return Mark6FileHeader(version, block_size, packet_format, packet_size)


def mark6_recording(scan: str, disks: str) -> Recording:
    """The scan's blocks from every ``<mount>/<scan>`` file, in block-number order."""
    if not scan or "/" in scan:
        raise CheckerError(scan or None, "not a scan name")
    paths = sorted(p for mount in mount_points(disks)
                   for p in glob.glob(os.path.join(glob.escape(mount), glob.escape(scan))) if os.path.isfile(p))
    if not paths:
        raise CheckerError(f"{disks}/{scan}", f"no Mark6 file of scan {scan!r} on the mount points matching {disks!r}")
    findings: list[Finding] = []
    blocks: list[tuple[int, str, int, int]] = []
    headers = {}
    for path in paths:
        header = read_file_header(path)
        headers[path] = header
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            offset = FILE_HEADER.size
            # one read per block header (blocks are megabytes): never a loop per frame
            while offset + BLOCK_HEADER.size <= size:
                handle.seek(offset)
                number, wb_size = BLOCK_HEADER.unpack(handle.read(BLOCK_HEADER.size))
                payload = wb_size - BLOCK_HEADER.size
                if payload < 0 or number < 0:
                    findings.append(Finding("block_size", offset, path, None, None,
                                            f"block header (number {number}, size {wb_size}) makes no sense; "
                                            "the rest of the file is not read"))
                    break
                available = min(payload, size - offset - BLOCK_HEADER.size)
                if available < payload:
                    findings.append(Finding("block_size", offset, path, None, None,
                                            f"block {number}: {wb_size - 8} payload bytes announced, "
                                            f"{available} in the file"))
                blocks.append((number, path, offset + BLOCK_HEADER.size, available))
                offset += wb_size
            if 0 < size - offset < BLOCK_HEADER.size:
                findings.append(Finding("block_size", offset, path, None, None,
                                        f"{size - offset} bytes after the last block"))
    sizes = {h.packet_size for h in headers.values()}
    if len(sizes) > 1:
        findings.append(Finding("mark6_header", None, paths[0], None, None,
                                f"the scan's files disagree on the packet size: {sorted(sizes)}"))
    if not blocks:
        raise CheckerError(paths[0], "no block in the Mark6 files")
    blocks.sort()
    kept: list[tuple[int, str, int, int]] = []
    for block in blocks:
        if kept and kept[-1][0] == block[0]:
            findings.append(Finding("duplicate_block", block[2] - BLOCK_HEADER.size, block[1], None, None,
                                    f"block {block[0]} also in {kept[-1][1]}; the first is read"))
            continue
        kept.append(block)
    numbers = {b[0] for b in kept}
    for number in range(kept[-1][0] + 1):
        if number not in numbers:
            findings.append(Finding("missing_block", None, None, None, None, f"block {number} is in no file"))
    segments = [Segment(path, start, length, "block", str(number)) for number, path, start, length in kept if length]
    source = {"kind": "mark6", "scan": scan, "disks": disks, "files": paths, "blocks": len(kept),
              "packet_size": sorted(sizes)[0]}
    return Recording(source, segments, findings)
