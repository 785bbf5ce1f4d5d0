"""Clean multi-thread recordings (flat, FlexBuff vbs, Mark6) built with FrameGenerator, and a
map from a position in the recorded stream to the file and offset the checker should name.

The stream: 4 threads, 250 frames/s per thread, 1000-byte payloads (1032-byte frames), station
MK, reference epoch 53, pattern payload, 3 seconds (3000 frames). Frame ``i`` of the clean stream
is thread ``i % 4``, frame index ``i // 4``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from harness.checker import CheckResult, Expectation, check_files, check_mark6, check_scan
from harness.formats.vdif.header import station_id
from harness.formats.vdif.stream import FrameGenerator, StreamSpec
from harness.formats.vdif.timecode import iso

START = Fraction(1782864000 + 12394851)
FPS = 250
THREADS = (0, 1, 2, 3)
SECONDS = 3
SPEC = StreamSpec(fps=FPS, payload_bytes=1000, threads=THREADS, station=station_id("MK"))
F = SPEC.frame_bytes
N = FPS * SECONDS * len(THREADS)
CHUNK_FRAMES = 256
BLOCK_FRAMES = 500
EXPECT = Expectation(frame_bytes=F, threads=THREADS, fps=FPS, payload="pattern", station="MK", bits=2, nchan=1,
                     complex=False, edv=0)


def clean_frames(spec: StreamSpec = SPEC, per_thread: int = FPS * SECONDS) -> npt.NDArray[np.uint8]:
    """The clean stream as an ``(frames, frame bytes)`` array (a copy: safe to damage)."""
    return FrameGenerator(spec, START).batch(0, per_thread).copy()


def frame_time(k: int) -> str:
    """ISO time of frame index ``k`` of every thread."""
    return iso(float(START + Fraction(k, FPS)))


def thread_of(i: int) -> int:
    return THREADS[i % len(THREADS)]


def fill_frame() -> bytes:
    """jive5ab's fill frame for a lost UDPS datagram: invalid bit, frame length, fill pattern."""
    header = struct.pack("<IIII", 0x80000000, 0, F // 8, 0)
    return header + b"\x44\x33\x22\x11" * ((F - 16) // 4)


@dataclass
class Recording:
    """A recording on disk: how to check it, and where each stream byte landed."""

    kind: str
    check: Callable[[Expectation], CheckResult]
    pieces: list[tuple[str, int, int]] = field(default_factory=list)
    """(file, offset in the file, length) of each consecutive piece of the stream."""
    chunk_files: list[str] = field(default_factory=list)

    def locate(self, position: int) -> tuple[str, int]:
        """(file, offset) of a byte position in the stream as recorded."""
        at = 0
        for path, offset, length in self.pieces:
            if position < at + length:
                return path, offset + position - at
            at += length
        raise ValueError(f"position {position} is past the recording")


def write_flat(root: Path, data: bytes) -> Recording:
    path = root / "n2f.vdif"
    path.write_bytes(data)
    return Recording("flat", lambda expect: check_files([path], expect), [(str(path), 0, len(data))])


def write_vbs(root: Path, chunks: Sequence[bytes | None], scan: str = "corpus_001", disks: int = 2) -> Recording:
    """Chunk ``n`` on disk ``n % disks`` as ``disk<d>/<scan>/<scan>.<n:08d>`` (None: the chunk is missing)."""
    rec = Recording("vbs", lambda expect: check_scan(scan, str(root / "disk*"), expect))
    for number, chunk in enumerate(chunks):
        folder = root / f"disk{number % disks}" / scan
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{scan}.{number:08d}"
        rec.chunk_files.append(str(path))
        if chunk is None:
            continue
        path.write_bytes(chunk)
        rec.pieces.append((str(path), 0, len(chunk)))
    for d in range(disks):
        (root / f"disk{d}").mkdir(exist_ok=True)
    return rec


def write_mark6(root: Path, blocks: Sequence[bytes], scan: str = "corpus_mk6", disks: int = 2) -> Recording:
    """Block ``n`` in the file on disk ``n % disks``, records ``[i32 number][i32 size+8][payload]``."""
    rec = Recording("mark6", lambda expect: check_mark6(scan, str(root / "disk*"), expect))
    block_size = max(len(b) for b in blocks) + 8
    files: dict[int, bytearray] = {}
    for d in range(disks):
        (root / f"disk{d}").mkdir(parents=True, exist_ok=True)
        files[d] = bytearray(struct.pack("<Iiiii", 0xFEED6666, 2, block_size, 0, F))
    for number, block in enumerate(blocks):
        body = files[number % disks]
        body += struct.pack("<ii", number, len(block) + 8)
        rec.pieces.append((str(root / f"disk{number % disks}" / scan), len(body), len(block)))
        body += block
    for d, body in files.items():
        (root / f"disk{d}" / scan).write_bytes(bytes(body))
    return rec


def clean_items() -> list[bytes]:
    """The clean stream as one ``bytes`` per frame; faults edit this list (stray bytes join a frame's item)."""
    return [frame.tobytes() for frame in clean_frames()]


def group(items: Sequence[bytes], per: int) -> list[bytes]:
    return [b"".join(items[i:i + per]) for i in range(0, len(items), per)]


def write(kind: str, root: Path, items: Sequence[bytes]) -> Recording:
    """The stream recorded as ``kind``: one flat file, vbs chunks of 256 items, or Mark6 blocks of 500 items
    (a recorder writes whole received frames per chunk, so an item with stray bytes makes its chunk longer)."""
    if kind == "flat":
        return write_flat(root, b"".join(items))
    if kind == "vbs":
        return write_vbs(root, group(items, CHUNK_FRAMES))
    return write_mark6(root, group(items, BLOCK_FRAMES))


def position(items: Sequence[bytes], index: int) -> int:
    """Byte position in the recorded stream of the start of item ``index``."""
    return sum(len(item) for item in items[:index])


def located(result: CheckResult) -> list[tuple[str, str | None, int | None, int | None]]:
    """The findings as (kind, file, offset, thread), sorted."""
    return sorted(((f.kind, f.file, f.offset, f.thread) for f in result.findings),
                  key=lambda t: (t[0], t[1] or "", -1 if t[2] is None else t[2], -1 if t[3] is None else t[3]))
