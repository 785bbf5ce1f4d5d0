"""An LWA RBeam fault corpus: the clean stream as a list of written packets, faults as edits of that list,
and the counts the checker must give computed from the list alone (not from the checker's code).

The stream: servers 1, 2, 3, 4 channels (48-byte packets), chan0 1234, pattern payload, 300 sequence
steps (900 packets, step-major) starting 150 steps before a 32-s cycle of the sequence clock begins,
so the checker's cycle boundary falls in the middle.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness.checker import Expectation
from harness.formats.lwa_rbeam.stream import LwaRbeamGenerator, LwaRbeamStreamSpec
from harness.formats.lwa_rbeam.timecode import CYCLE_PACKETS, seq_time

SERVERS = (1, 2, 3)
NCHAN = 4
CHAN0 = 1234
STEPS = 300
F = 16 + NCHAN * 2 * 4
FIRST_SEQ = 55714500 * CYCLE_PACKETS - 150
"""150 steps before 2026-07-01T00:00:00Z (1782864000 s = 55714500 cycles of 32 s): a cycle boundary at step 150."""
SPEC = LwaRbeamStreamSpec(nchan=NCHAN, servers=SERVERS, chan0=CHAN0)
EXPECT = Expectation(format="lwa_rbeam", payload="pattern", threads=SERVERS, nchan=NCHAN,
                     header_values=(("chan0", CHAN0), ("nbeam", 1), ("nserver", 1)))
HEADER = ">BBHBBHQ"


@dataclass(frozen=True)
class Written:
    """One packet as the corpus wrote it: which clean packet (server, step) and what was done to it."""

    server: int
    step: int
    damage: str = ""
    """'' (none), 'nchan', 'chan0', 'seq' (a corrupt sequence jump), 'payload', 'truncated'."""


def clean_list() -> list[Written]:
    return [Written(server, step) for step in range(STEPS) for server in SERVERS]


def clean_packets() -> np.ndarray:
    return LwaRbeamGenerator(SPEC, seq_time(FIRST_SEQ)).batch(0, STEPS).copy()


def render(written: Sequence[Written], clean: np.ndarray) -> bytes:
    """The bytes of the written list; each damage made with struct on the clean packet's bytes."""
    out = []
    for w in written:
        packet = bytearray(clean[w.step * len(SERVERS) + SERVERS.index(w.server)].tobytes())
        server, _, nchan, _, _, chan0, seq = struct.unpack_from(HEADER, packet)
        assert (server, seq) == (w.server, FIRST_SEQ + w.step)  # the generator's packet is the one meant
        if w.damage == "nchan":
            struct.pack_into(">H", packet, 2, nchan * 2)
        elif w.damage == "chan0":
            struct.pack_into(">H", packet, 6, chan0 + 1)
        elif w.damage == "seq":
            struct.pack_into(">Q", packet, 8, seq ^ (1 << 20))  # 1048576 steps away, 44 s, within a day
        elif w.damage == "payload":
            packet[16 + 13] ^= 0x20
        elif w.damage == "truncated":
            packet = packet[: F // 2]
        out.append(bytes(packet))
    return b"".join(out)


def expected_counts(written: Sequence[Written]) -> dict[str, int]:
    """The counts from the list, per server, by the definitions (the checker's docs), in file order.

    A packet with a damaged sequence number stands in for the clean one it replaced (its slot is not
    missing); one with a wrong nchan or chan0 still occupies its slot. Duplicate: a slot of that server
    written before. Out of order: the first packet of a slot written after one of a later slot of the
    same server. Missing: per server, the slots between its first and last written that nothing fills."""
    whole = [w for w in written if w.damage != "truncated"]
    duplicates = out_of_order = missing = 0
    for server in SERVERS:
        mine = [w for w in whole if w.server == server]
        seen: set[int] = set()
        highest = -1
        for w in mine:
            if w.damage == "seq":
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
        "corrupt_headers": sum(w.damage in ("nchan", "chan0", "seq") for w in whole),
        "payload_errors": sum(w.damage == "payload" for w in whole),
    }


DAMAGED_AT = 3 * 140 + 1
"""The list position of the damaged packet: server 2's packet of step 140."""


def faulted(fault: str) -> list[Written]:
    """The clean list with one fault."""
    w = clean_list()
    if fault == "lost_packet":
        del w[DAMAGED_AT]
    elif fault == "lost_over_cycle":
        del w[3 * 145 : 3 * 155]  # 10 steps of every server over the 32-s cycle boundary
    elif fault == "duplicate":
        w.insert(DAMAGED_AT + 3, w[DAMAGED_AT])
    elif fault == "swap":  # server 2's steps 140 and 141 swapped
        w[DAMAGED_AT], w[DAMAGED_AT + 3] = w[DAMAGED_AT + 3], w[DAMAGED_AT]
    elif fault in ("nchan", "chan0", "seq", "payload"):
        w[DAMAGED_AT] = replace(w[DAMAGED_AT], damage=fault)
    elif fault == "truncated":
        w[-1] = replace(w[-1], damage="truncated")
    elif fault != "clean":
        raise ValueError(fault)
    return w


FAULTS = ("clean", "lost_packet", "lost_over_cycle", "duplicate", "swap", "nchan", "chan0", "seq", "payload",
          "truncated")
