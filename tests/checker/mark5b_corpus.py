"""A Mark5B fault corpus: the clean stream as a list of written frames, faults as edits of that list,
and the counts the checker must give computed from the list alone (not from the checker's code).

The stream: 100 frames/s (8 Mbit/s), user bits 'MK', pattern payload, 3 seconds (300 frames),
frame ``k`` is second ``k // 100``, frame number ``k % 100``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from harness.checker import Expectation
from harness.formats.mark5b.stream import Mark5bGenerator, Mark5bStreamSpec
from harness.formats.vdif.header import station_id

START = Fraction(1782864000 + 12394851)
FPS = 100
SECONDS = 3
N = FPS * SECONDS
F = 10016
EXPECT = Expectation(format="mark5b", payload="pattern", fps=FPS, station="MK")
FILL = b"\x44\x33\x22\x11" * (F // 4)
"""jive5ab's fill for a lost Mark5B datagram: the whole frame, header too, the 64-bit fill pattern."""
PART = F // 2
"""A frame sent in two datagrams (vdif-send --frame-parts 2, to fit MTU 9000): a lost one fills half the frame."""
VDIF_FILL_HEADER = struct.pack("<4I", 0x80000000, 0, PART // 8, 0)
"""The fill a recorder in a VDIF mode (jive5ab >= 2.7, the reference recorder) writes for a lost datagram: a VDIF
header with the invalid bit and the datagram's length, then the pattern."""
FILLED = ("fill", "fill_first_half", "fill_second_half", "vdif_fill_first_half", "vdif_fill_second_half")
"""Damages that put fill where a datagram of the frame was lost: an invalid frame, in the lost frame's place."""


@dataclass(frozen=True)
class Written:
    """One frame as the corpus wrote it: which clean frame and what was done to it."""

    index: int
    damage: str = ""
    """'' (none), 'sync', 'crc', 'bcd' (header), 'fill' (jive5ab fill in its place), '[vdif_]fill_first_half' /
    '[vdif_]fill_second_half' (one datagram of two lost: raw or VDIF-headed fill there), 'payload', 'truncated'."""


def clean_list() -> list[Written]:
    return [Written(k) for k in range(N)]


def clean_frames() -> np.ndarray:
    return Mark5bGenerator(Mark5bStreamSpec(fps=FPS, user=station_id("MK")), START).batch(0, N).copy()


def _crc16(code48: int) -> int:
    value = code48 << 16
    for bit in range(63, 15, -1):
        if value >> bit & 1:
            value ^= 0x18005 << (bit - 16)
    return value


def render(written: Sequence[Written], clean: np.ndarray) -> bytes:
    """The bytes of the written list; each damage made with struct on the clean frame's bytes."""
    out = []
    for w in written:
        frame = bytearray(clean[w.index].tobytes())
        w0, _, w2, w3 = struct.unpack_from("<4I", frame)
        if w.damage == "sync":
            struct.pack_into("<I", frame, 0, w0 ^ 0x00010000)
        elif w.damage == "crc":
            struct.pack_into("<I", frame, 12, w3 ^ 0x0001)
        elif w.damage == "bcd":  # the last seconds digit made 0xC, the CRC made to match: only the BCD is wrong
            w2 = (w2 & ~0xF) | 0xC
            crc = _crc16(((w2 >> 20) << 36) | ((w2 & 0xFFFFF) << 16) | (w3 >> 16))
            struct.pack_into("<II", frame, 8, w2, (w3 & 0xFFFF0000) | crc)
        elif w.damage == "fill":
            frame = bytearray(FILL)
        elif w.damage.endswith("_half"):
            at = 0 if "first" in w.damage else PART
            part = bytearray(FILL[:PART])
            if w.damage.startswith("vdif_"):
                part[:16] = VDIF_FILL_HEADER
            frame[at:at + PART] = part
        elif w.damage == "payload":
            frame[16 + 4321] ^= 0x08
        elif w.damage == "truncated":
            frame = frame[: F // 2]
        out.append(bytes(frame))
    return b"".join(out)


def expected_counts(written: Sequence[Written]) -> dict[str, int]:
    """The counts from the list, by the definitions (jive5ab's and the checker's docs), in file order.

    A frame whose header is damaged, or a fill frame, stands in for the clean frame it replaced: its slot is
    not missing. Duplicate: a slot written before. Out of order: the first frame of a slot written after a
    frame of a later slot. Missing: slots between the first and last written that nothing fills."""
    whole = [w for w in written if w.damage != "truncated"]
    seen: set[int] = set()
    highest = -1
    duplicates = out_of_order = 0
    for w in whole:
        if w.damage in ("sync", "crc", "bcd", *FILLED):
            continue
        if w.index in seen:
            duplicates += 1
        elif w.index < highest:
            out_of_order += 1
        seen.add(w.index)
        highest = max(highest, w.index)
    slots = {w.index for w in whole}
    return {
        "frames": len(whole),
        "valid_frames": len(whole) - sum(w.damage in FILLED for w in whole),
        "invalid_frames": sum(w.damage in FILLED for w in whole),
        "missing_frames": max(slots) - min(slots) + 1 - len(slots),
        "duplicate_frames": duplicates,
        "out_of_order_frames": out_of_order,
        "corrupt_headers": sum(w.damage in ("sync", "crc", "bcd") for w in whole),
        "payload_errors": sum(w.damage == "payload" for w in whole),
    }


def faulted(fault: str) -> list[Written]:
    """The clean list with one fault of each kind the corpus has."""
    w = clean_list()
    if fault == "lost_frame":
        del w[150]
    elif fault == "lost_second_boundary":
        del w[190:210]  # 20 frames over the boundary of seconds 1 and 2
    elif fault == "duplicate":
        w.insert(121, Written(120))
    elif fault == "swap":
        w[130], w[131] = w[131], w[130]
    elif fault == "swap_over_boundary":
        w[199], w[200] = w[200], w[199]
    elif fault in ("sync", "crc", "bcd", "payload", *FILLED):
        w[140] = replace(w[140], damage=fault)
    elif fault == "truncated":
        w[-1] = replace(w[-1], damage="truncated")
    elif fault != "clean":
        raise ValueError(fault)
    return w


FAULTS = ("clean", "lost_frame", "lost_second_boundary", "duplicate", "swap", "swap_over_boundary", "sync", "crc",
          "bcd", *FILLED, "payload", "truncated")
