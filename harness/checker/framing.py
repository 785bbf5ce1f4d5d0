"""Finding the frames in a segment: regular runs of frames, lost synchronisation, partial frames.

VDIF has no sync word, so a frame is recognised by its header agreeing with the stream: the frame
length field, the legacy bit and, for valid frames, the VDIF version and reference epoch (an
invalid frame such as jive5ab's fill frame has a zero header but for those two first fields).
Frames are checked a window at a time through strided views of the header words (one cache line
per frame). A frame whose header disagrees while the next frame is where it should be is a
*damaged frame in place*; otherwise synchronisation is lost, and the bytes up to the next place
where two frames line up again are *stray bytes*.

A format with a sync word (Mark5B) is framed the same way, its sync test being that word alone
(``SyncRef.sync_word``, from the format table). A format with neither a sync word nor a length field
(LWA RBeam) is framed as fixed-size packets from offset 0 (``SyncRef.fixed``): every position is a
frame, so synchronisation is never lost; a partial last packet is the tail.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError

MIN_FRAME_BYTES = 40
MAX_FRAME_BYTES = ((1 << 24) - 1) * 8
BOOTSTRAP_BYTES = 1 << 20
"""How far into a segment to look for the first frame when the file does not start with one."""


@dataclass(frozen=True)
class SyncRef:
    """What every frame header of the stream agrees on (``None``: not known yet)."""

    frame_bytes: int
    legacy: int
    version: int | None = None
    ref_epoch: int | None = None
    format: str = "vdif"
    sync_word: int | None = None
    """The format's sync word (at word ``sync_index``): the sync test is that word alone."""
    sync_index: int = 0
    words: int | None = None
    """Header words where the format fixes them."""
    fixed: bool = False
    """No sync word: frames of ``frame_bytes`` back to back from offset 0, each header judged by the rules alone."""

    @property
    def header_words(self) -> int:
        if self.words is not None:
            return self.words
        return 4 if self.legacy else 8

    @property
    def needle(self) -> tuple[bytes, int]:
        """Bytes every header of the stream holds, and where in the header: what resynchronisation searches for."""
        if self.sync_word is not None:
            return self.sync_word.to_bytes(4, "little"), 4 * self.sync_index
        return (self.frame_bytes // 8).to_bytes(3, "little"), 8

    @property
    def sync_bytes(self) -> int:
        """Header bytes the sync test reads."""
        return 4 * (self.sync_index + 1) if self.sync_word is not None else 12

    @property
    def header_bytes(self) -> int:
        return 4 * self.header_words


def header_words(buffer: mmap.mmap, offset: int, count: int, stride: int, nwords: int) -> npt.NDArray[np.uint32]:
    """A zero-copy ``(count, nwords)`` view of the header words of ``count`` frames ``stride`` apart."""
    return np.ndarray((count, nwords), dtype="<u4", buffer=buffer, offset=offset, strides=(stride, 4))


def sync_ok(words: npt.NDArray[np.uint32], ref: SyncRef) -> npt.NDArray[np.bool_]:
    """Frames whose header agrees with the stream's framing (see the module docstring)."""
    if ref.fixed:
        return np.ones(len(words), dtype=bool)
    if ref.sync_word is not None:
        return words[:, ref.sync_index] == np.uint32(ref.sync_word)
    w0 = words[:, 0]
    w2 = words[:, 2]
    ok = (w2 & np.uint32(0xFFFFFF)) == ref.frame_bytes // 8
    ok &= ((w0 >> np.uint32(30)) & np.uint32(1)) == ref.legacy
    if ref.version is not None and ref.ref_epoch is not None:
        agrees = (w2 >> np.uint32(29)) == ref.version
        agrees &= ((words[:, 1] >> np.uint32(24)) & np.uint32(0x3F)) == ref.ref_epoch
        ok &= agrees | (w0 >> np.uint32(31)).astype(bool)
    return ok


@dataclass(frozen=True)
class Run:
    """``count`` frames back to back from byte ``start`` of a segment; ``damaged`` marks frames in place
    whose header failed the sync test (``None``: none did)."""

    start: int
    count: int
    damaged: npt.NDArray[np.bool_] | None


@dataclass(frozen=True)
class Skip:
    """Bytes of a segment that are no frame: ``stray`` (lost sync) or ``tail`` (a partial last frame)."""

    start: int
    length: int
    kind: str


def _ok_at(buffer: mmap.mmap, base: int, end: int, offsets: list[int], ref: SyncRef) -> list[bool]:
    """Sync test of single frames at segment offsets (frames that would run past ``end`` fail)."""
    out = []
    for offset in offsets:
        if offset < 0 or offset + ref.frame_bytes > end:
            out.append(False)
            continue
        out.append(bool(sync_ok(header_words(buffer, base + offset, 1, ref.frame_bytes, 4), ref)[0]))
    return out


def resync(buffer: mmap.mmap, base: int, end: int, lost_at: int, ref: SyncRef) -> int | None:
    """The first offset after ``lost_at`` where a frame starts and the next one follows (or the segment ends).

    Candidates are found by searching (at C speed) for the 3-byte frame length field (or the sync
    word); each is then tested as a header, together with the frame after it.
    """
    needle, at = ref.needle
    search = base + lost_at + 1 + at
    limit = base + end
    frame = ref.frame_bytes
    while True:
        hit = buffer.find(needle, search, limit)
        if hit < 0:
            return None
        candidate = hit - at - base
        search = hit + 1
        if candidate + frame > end:
            return None
        first, second = _ok_at(buffer, base, end, [candidate, candidate + frame], ref)
        if first and (second or candidate + frame == end or candidate + 2 * frame > end):
            return candidate


def frame_runs(buffer: mmap.mmap, base: int, length: int, ref: SyncRef, window: int) -> Iterator[Run | Skip]:
    """The runs of frames and the skipped bytes of one segment (``length`` bytes at ``base``), in order."""
    frame = ref.frame_bytes
    position = 0
    while length - position >= frame:
        available = (length - position) // frame
        count = min(window, available)
        looked = count + 1 if available > count else count  # one frame of look-ahead
        ok = sync_ok(header_words(buffer, base + position, looked, frame, 4), ref)
        if ok[:count].all():
            yield Run(position, count, None)
            position += count * frame
            continue
        next_ok = np.empty(count, dtype=bool)
        next_ok[: looked - 1] = ok[1:looked]
        if looked == count:  # the segment's last whole frame: in place when the segment ends right after it
            next_ok[-1] = position + count * frame == length
        lost = ~ok[:count] & ~next_ok
        if not lost.any():
            yield Run(position, count, ~ok[:count])
            position += count * frame
            continue
        first_lost = int(np.argmax(lost))
        if first_lost:
            yield Run(position, first_lost, ~ok[:first_lost])
        lost_at = position + first_lost * frame
        found = resync(buffer, base, length, lost_at, ref)
        if found is None:
            tail = length - lost_at
            partial = tail < frame and _looks_like_header(buffer, base + lost_at, ref)
            yield Skip(lost_at, tail, "tail" if partial else "stray")
            return
        skipped = found - lost_at
        if skipped % frame == 0:
            yield Run(lost_at, skipped // frame, np.ones(skipped // frame, dtype=bool))
        else:
            yield Skip(lost_at, skipped, "stray")
        position = found
    if length > position:
        yield Skip(position, length - position, "tail")


def _looks_like_header(buffer: mmap.mmap, at: int, ref: SyncRef) -> bool:
    if at + ref.sync_bytes > len(buffer):
        return False
    return bool(sync_ok(header_words(buffer, at, 1, ref.frame_bytes, ref.sync_bytes // 4), ref)[0])


def find_first_synced(buffer: mmap.mmap, base: int, length: int, ref: SyncRef,
                      span: int = BOOTSTRAP_BYTES) -> int | None:
    """Offset of the first sync word in a segment that the next frame repeats (or the segment's end follows)."""
    needle, at = ref.needle
    search, limit = base + at, base + min(length, span + ref.frame_bytes)
    while True:
        hit = buffer.find(needle, search, limit)
        if hit < 0:
            return None
        candidate = hit - at - base
        search = hit + 1
        if candidate + ref.frame_bytes > length:
            return None
        if candidate + 2 * ref.frame_bytes > length or _ok_at(buffer, base, length, [candidate + ref.frame_bytes],
                                                              ref)[0]:
            return candidate


def find_first_frame(buffer: mmap.mmap, base: int, length: int, frame_bytes: int | None,
                     legacy: int | None, span: int = BOOTSTRAP_BYTES) -> tuple[int, int, int] | None:
    """(offset, frame bytes, legacy) of the first place in a segment where three frames chain.

    Three headers ``frame bytes`` apart with the same frame length field and legacy bit (the
    heuristic of DiFX's vdifbuffer.c); two when the segment holds only two frames, one when one.
    """
    span = min(length, span)
    if span < 12:
        return None
    data = np.frombuffer(buffer, dtype=np.uint8, count=length, offset=base)
    offsets = np.arange(max(0, span - 11), dtype=np.int64)
    units = data[offsets + 8].astype(np.int64) | (data[offsets + 9].astype(np.int64) << 8) | (
        data[offsets + 10].astype(np.int64) << 16)
    flags = (data[offsets + 3] >> 6) & 1
    sizes = units * 8
    plausible = (sizes >= MIN_FRAME_BYTES) & (offsets + sizes <= length)
    if frame_bytes is not None:
        plausible &= sizes == frame_bytes
    if legacy is not None:
        plausible &= flags == legacy
    candidates = offsets[plausible]
    sizes = sizes[plausible]
    flags = flags[plausible]
    # epoch (byte 7) and version (byte 11) of a valid frame must repeat down the chain
    marks = (data[candidates + 7].astype(np.int64) & 0x3F) | ((data[candidates + 11].astype(np.int64) >> 5) << 6)
    invalid = (data[candidates + 3] >> 7).astype(bool)
    # how many frames can follow each candidate decides how much chaining is asked for
    for hops in (2, 1):
        room = candidates + (hops + 1) * sizes <= length
        if hops == 1:
            room &= candidates + 3 * sizes > length
        chained = room.copy()
        for hop in range(1, hops + 1):
            at = np.where(room, candidates + hop * sizes, 0)
            hop_units = data[at + 8].astype(np.int64) | (data[at + 9].astype(np.int64) << 8) | (
                data[at + 10].astype(np.int64) << 16)
            chained &= (hop_units * 8 == sizes) & (((data[at + 3] >> 6) & 1) == flags)
            hop_marks = (data[at + 7].astype(np.int64) & 0x3F) | ((data[at + 11].astype(np.int64) >> 5) << 6)
            chained &= invalid | (data[at + 3] >> 7).astype(bool) | (hop_marks == marks)
        if chained.any():
            i = int(np.argmax(chained))
            return int(candidates[i]), int(sizes[i]), int(flags[i])
    alone = candidates + 2 * sizes > length
    if alone.any():
        i = int(np.argmax(alone))
        return int(candidates[i]), int(sizes[i]), int(flags[i])
    return None


def stream_constants(buffer: mmap.mmap, base: int, length: int, first: int, frame_bytes: int,
                     limit: int = 4096) -> tuple[int, int] | None:
    """The (VDIF version, reference epoch) most valid frames after ``first`` carry, or None if all are invalid."""
    count = min(limit, (length - first) // frame_bytes)
    if count <= 0:
        return None
    words = header_words(buffer, base + first, count, frame_bytes, 4)
    valid = (words[:, 0] >> np.uint32(31)) == 0
    if not valid.any():
        return None
    pairs = ((words[valid, 2] >> np.uint32(29)).astype(np.int64) << 8) | (
        (words[valid, 1] >> np.uint32(24)) & np.uint32(0x3F)).astype(np.int64)
    values, counts = np.unique(pairs, return_counts=True)
    best = int(values[np.argmax(counts)])
    return best >> 8, best & 0xFF


def check_frame_bytes(frame_bytes: int, path: str) -> None:
    if not MIN_FRAME_BYTES <= frame_bytes <= MAX_FRAME_BYTES or frame_bytes % 8:
        raise CheckerError(path, f"frame size {frame_bytes} is not a VDIF frame size")
