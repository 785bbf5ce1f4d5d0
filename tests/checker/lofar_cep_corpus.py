"""A LOFAR CEP fault corpus: the clean stream as a list of written packets, faults as edits of that list,
and the counts the checker must give computed from the list alone (not from the checker's code).

The stream: RSP lanes 0..3, 8-bit, 2 beamlets x 16 time samples (144-byte packets), station 613, pattern
payload, 300 packet steps (1200 packets, step-major) starting 150 steps before 2026-07-01T00:00:00Z, a
32-s cycle of the 200 MHz sample clock (the checker's "second"), so that boundary falls in the middle.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from harness.checker import Expectation
from harness.formats.lofar_cep.stream import LofarCepGenerator, LofarCepStreamSpec

LANES = (0, 1, 2, 3)
BITS, BEAMLETS, SLICES, STATION = 8, 2, 16, 613
STEPS = 300
F = 16 + BEAMLETS * SLICES * 4 * BITS // 8
CYCLE_START = 1782864000
"""55714500 x 32 s: at 200 MHz sample 1782864000 x 195312.5, whole, starts a 32-s cycle."""
FIRST_SAMPLE = CYCLE_START * 390625 // 2 - 150 * SLICES
SPEC = LofarCepStreamSpec(station=STATION, bits=BITS, beamlets=BEAMLETS, slices=SLICES, rsp_ids=LANES)
EXPECT = Expectation(format="lofar_cep", payload="pattern", threads=LANES, bits=BITS,
                     header_values=(("station", STATION), ("beamlets", BEAMLETS), ("slices", SLICES), ("version", 3)))
HEADER = "<BBBBHBBII"


@dataclass(frozen=True)
class Written:
    """One packet as the corpus wrote it: which clean packet (lane, step) and what was done to it."""

    lane: int
    step: int
    damage: str = ""
    """'' (none), 'beamlets', 'station', 'error' (the RSP error bit), 'timestamp' (a corrupt jump of 44 s),
    'sequence' (off the packet grid), 'payload', 'truncated'."""


HEADER_DAMAGE = ("beamlets", "station", "error", "timestamp", "sequence")


def clean_list() -> list[Written]:
    return [Written(lane, step) for step in range(STEPS) for lane in LANES]


def clean_packets() -> np.ndarray:
    start = Fraction(FIRST_SAMPLE * 1024, 200_000_000)
    return LofarCepGenerator(SPEC, start).batch(0, STEPS).copy()


def leading_sample(timestamp: int, sequence: int) -> int:
    """The seed's time: the Unix second's first sample ((t x 200e6 + 512) // 1024) plus the sequence."""
    return (timestamp * 200_000_000 + 512) // 1024 + sequence


def render(written: Sequence[Written], clean: np.ndarray) -> bytes:
    """The bytes of the written list; each damage made with struct on the clean packet's bytes."""
    out = []
    for w in written:
        packet = bytearray(clean[w.step * len(LANES) + LANES.index(w.lane)].tobytes())
        _, source, _, _, station, beamlets, _, timestamp, sequence = struct.unpack_from(HEADER, packet)
        assert (source & 0x1F, leading_sample(timestamp, sequence)) == (w.lane, FIRST_SAMPLE + SLICES * w.step)
        if w.damage == "beamlets":
            struct.pack_into("<B", packet, 6, beamlets + 1)
        elif w.damage == "station":
            struct.pack_into("<H", packet, 4, station + 1)
        elif w.damage == "error":
            struct.pack_into("<B", packet, 1, source | 1 << 6)
        elif w.damage == "timestamp":
            struct.pack_into("<I", packet, 8, timestamp + 44)
        elif w.damage == "sequence":
            struct.pack_into("<I", packet, 12, sequence + 7)
        elif w.damage == "payload":
            packet[16 + 13] ^= 0x20
        elif w.damage == "truncated":
            packet = packet[: F // 2]
        out.append(bytes(packet))
    return b"".join(out)


def expected_counts(written: Sequence[Written]) -> dict[str, int]:
    """The counts from the list, per lane, by the definitions (the checker's docs), in file order.

    A packet with a damaged time (a jump, or a sequence off the grid) stands in for the clean one it replaced
    (its slot is not missing); one with another damaged field still occupies its slot. Duplicate: a slot of that
    lane written before. Out of order: the first packet of a slot written after one of a later slot of the same
    lane. Missing: per lane, the slots between its first and last written that nothing fills."""
    whole = [w for w in written if w.damage != "truncated"]
    duplicates = out_of_order = missing = 0
    for lane in LANES:
        mine = [w for w in whole if w.lane == lane]
        seen: set[int] = set()
        highest = -1
        for w in mine:
            if w.damage in ("timestamp", "sequence"):
                continue
            if w.step in seen:
                duplicates += 1
            elif w.step < highest:
                out_of_order += 1
            seen.add(w.step)
            highest = max(highest, w.step)
        slots = {w.step for w in mine}
        missing += max(slots) - min(slots) + 1 - len(slots)
    return {
        "frames": len(whole),
        "valid_frames": len(whole),
        "invalid_frames": 0,
        "missing_frames": missing,
        "duplicate_frames": duplicates,
        "out_of_order_frames": out_of_order,
        "corrupt_headers": sum(w.damage in HEADER_DAMAGE for w in whole),
        "payload_errors": sum(w.damage == "payload" for w in whole),
    }


DAMAGED_AT = 4 * 140 + 1
"""The list position of the damaged packet: lane 1's packet of step 140."""


def faulted(fault: str) -> list[Written]:
    """The clean list with one fault."""
    w = clean_list()
    if fault == "lost_packet":
        del w[DAMAGED_AT]
    elif fault == "lost_over_cycle":
        del w[4 * 145 : 4 * 155]  # 10 steps of every lane over the 32-s cycle boundary
    elif fault == "duplicate":
        w.insert(DAMAGED_AT + 4, w[DAMAGED_AT])
    elif fault == "swap":  # lane 1's steps 140 and 141 swapped
        w[DAMAGED_AT], w[DAMAGED_AT + 4] = w[DAMAGED_AT + 4], w[DAMAGED_AT]
    elif fault in (*HEADER_DAMAGE, "payload"):
        w[DAMAGED_AT] = replace(w[DAMAGED_AT], damage=fault)
    elif fault == "truncated":
        w[-1] = replace(w[-1], damage="truncated")
    elif fault != "clean":
        raise ValueError(fault)
    return w


FAULTS = ("clean", "lost_packet", "lost_over_cycle", "duplicate", "swap", *HEADER_DAMAGE, "payload", "truncated")
