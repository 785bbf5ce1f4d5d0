"""Header rules, as a table, applied to a window of frames at once.

Two kinds of rule. *Placement* rules guard the fields that say where a frame belongs (thread,
time, framing): a frame failing one cannot be placed in its thread's sequence and becomes a
stand-in, later attributed by its position to the gap it fills. *Shape* rules guard the other
invariants (station, channels, bits, complex, EDV, unassigned bits): such a frame still occupies
its slot. A valid frame failing either is a corrupt header; an invalid frame (invalid bit set,
e.g. jive5ab's fill frame for a lost datagram) is counted apart and never called corrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.shape import StreamShape
from harness.formats.vdif.header import SYNC_WORD, station_name

SLOT_BITS = 44
SLOT_MASK = (1 << SLOT_BITS) - 1
SLOT_BIAS = 1 << 42
"""Slots are frames since the stream's reference second, offset so they stay positive (+-1 day fits)."""
SEGMENT_BITS = 9
RANK_SHIFT = SLOT_BITS + SEGMENT_BITS
"""Key = thread rank << 53 | continuity segment << 44 | slot; continuity adds the segment (see there)."""
MAX_TIME_OFFSET = 86400
"""Header times further than a day from the stream's are garbage (jive5ab's filter)."""

Fields = Mapping[str, npt.NDArray[Any]]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rule:
    name: str
    placement: bool
    bad: Callable[[Fields, npt.NDArray[np.uint32], StreamShape, npt.NDArray[np.int64]], Mask]
    says: Callable[[Fields, npt.NDArray[np.uint32], StreamShape, int, int], str]
    """(fields, words, shape, frame index, thread rank) -> what is wrong, in words."""


def _per_rank(values: tuple[int, ...], rank: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    table = np.asarray((*values, -1), dtype=np.int64)
    return table[rank]  # rank -1 picks the sentinel: unknown threads are not held to a thread's shape


def thread_rule(name: str, column: str, values: Callable[[StreamShape], tuple[int, ...]],
                 show: Callable[[int], str] = str) -> Rule:
    def bad(f: Fields, w: npt.NDArray[np.uint32], s: StreamShape, rank: npt.NDArray[np.int64]) -> Mask:
        expected = _per_rank(values(s), rank)
        return (rank >= 0) & (f[column] != expected)

    def says(f: Fields, w: npt.NDArray[np.uint32], s: StreamShape, i: int, rank: int) -> str:
        return f"{name} {show(int(f[column][i]))}, the thread's is {show(values(s)[rank])}"

    return Rule(name, False, bad, says)


def _edv_words_bad(f: Fields, w: npt.NDArray[np.uint32], s: StreamShape, rank: npt.NDArray[np.int64]) -> Mask:
    if s.edv is None:
        return np.zeros(len(w), dtype=bool)
    same = f["edv"] == s.edv
    if s.edv == 0:
        return same & (w[:, 4:8] != 0).any(axis=1)
    if s.edv in (1, 3, 4):
        bad = w[:, 5] != SYNC_WORD
        if s.edv == 3:
            bad |= f["edv3_unassigned"] != 0
        if s.edv == 4:
            bad |= f["edv4_unassigned"] != 0
        return same & bad
    return np.zeros(len(w), dtype=bool)


def _edv_words_says(f: Fields, w: npt.NDArray[np.uint32], s: StreamShape, i: int, rank: int) -> str:
    if s.edv == 0:
        return f"EDV 0 words 4-7 not zero ({' '.join(f'{int(x):08x}' for x in w[i, 4:8])})"
    if int(w[i, 5]) != SYNC_WORD:
        return f"EDV {s.edv} sync word 0x{int(w[i, 5]):08x}, not 0x{SYNC_WORD:08x}"
    return f"EDV {s.edv} unassigned bits set"


def _declared_framing_bad(f: Fields, s: StreamShape) -> Mask:
    """Frames of another size or header kind than declared (the stream is checked at what it is: see shape)."""
    bad = np.zeros(len(f["frame_bytes"]), dtype=bool)
    if s.declared_frame_bytes is not None:
        bad |= f["frame_bytes"] != s.declared_frame_bytes
    if s.declared_legacy is not None:
        bad |= f["legacy"] != s.declared_legacy
    return bad


def _declared_shape(s: StreamShape) -> str:
    size = s.frame_bytes if s.declared_frame_bytes is None else s.declared_frame_bytes
    legacy = s.sync.legacy if s.declared_legacy is None else s.declared_legacy
    return f"{size}-byte frames with {16 if legacy else 32}-byte headers"


RULES: tuple[Rule, ...] = (
    Rule("frame_length", True, lambda f, w, s, r: f["frame_bytes"] != s.frame_bytes,
         lambda f, w, s, i, r: f"frame length {int(f['frame_bytes'][i])} bytes, the stream's is {s.frame_bytes}"),
    Rule("legacy", True, lambda f, w, s, r: f["legacy"] != s.sync.legacy,
         lambda f, w, s, i, r: f"legacy bit {int(f['legacy'][i])}, the stream's is {s.sync.legacy}"),
    # unknown (no valid frame seen): no invalid frame can be placed by its header
    Rule("version", True, lambda f, w, s, r: f["version"] != (-1 if s.sync.version is None else s.sync.version),
         lambda f, w, s, i, r: f"VDIF version {int(f['version'][i])}, the stream's is {s.sync.version}"),
    Rule("ref_epoch", True, lambda f, w, s, r: f["ref_epoch"] != (-1 if s.sync.ref_epoch is None else s.ref_epoch),
         lambda f, w, s, i, r: f"reference epoch {int(f['ref_epoch'][i])}, the stream's is {s.ref_epoch}"),
    Rule("thread", True, lambda f, w, s, r: r < 0,
         lambda f, w, s, i, r: f"thread {int(f['thread_id'][i])} is not one of the stream's {list(s.threads)}"),
    Rule("frame_nr", True, lambda f, w, s, r: f["frame_nr"] >= s.fps,
         lambda f, w, s, i, r: f"frame number {int(f['frame_nr'][i])} is not below the frame rate {s.fps}"),
    Rule("seconds", True, lambda f, w, s, r: np.abs(f["seconds"] - s.ref_second) > MAX_TIME_OFFSET,
         lambda f, w, s, i, r: f"seconds {int(f['seconds'][i])} is more than a day from the stream's {s.ref_second}"),
    thread_rule("station", "station", lambda s: s.station, lambda v: f"{station_name(v)!r} (0x{v:04x})"),
    thread_rule("channels (log2)", "lg2_nchan", lambda s: s.lg2_nchan),
    thread_rule("bits per sample", "bits_m1", lambda s: s.bits_m1, lambda v: str(v + 1)),
    thread_rule("complex flag", "complex", lambda s: s.complex),
    Rule("unassigned", False, lambda f, w, s, r: f["unassigned"] != 0,
         lambda f, w, s, i, r: f"unassigned bits (word 1, bits 30-31) are {int(f['unassigned'][i])}, not 0"),
    Rule("edv", False, lambda f, w, s, r: (f["edv"] != s.edv) if s.edv is not None else np.zeros(len(w), bool),
         lambda f, w, s, i, r: f"EDV {int(f['edv'][i])}, the stream's is {s.edv}"),
    Rule("edv_words", False, _edv_words_bad, _edv_words_says),
    Rule("declared framing", False, lambda f, w, s, r: _declared_framing_bad(f, s),
         lambda f, w, s, i, r: f"a {int(f['frame_bytes'][i])}-byte frame with a {16 if f['legacy'][i] else 32}-byte "
                               f"header, the declared stream's are {_declared_shape(s)}"),
)
RULE_BITS = {rule.name: bit for bit, rule in enumerate(RULES)}
"""Rule name -> its bit in ``Verdicts.failed`` (VDIF's table; ``rule_bits`` for another)."""


def rule_bits(rules: tuple[Rule, ...]) -> dict[str, int]:
    """Rule name -> its bit in ``Verdicts.failed`` for a format's rule table."""
    return {rule.name: bit for bit, rule in enumerate(rules)}


@dataclass
class Verdicts:
    """Per frame of a window: where it goes and what is wrong with its header."""

    rank: npt.NDArray[np.int64]
    key: npt.NDArray[np.int64]
    """Slot key ``rank << RANK_SHIFT | slot``; valid where ``placed``."""
    invalid: Mask
    placed: Mask
    corrupt: Mask
    failed: npt.NDArray[np.int64]
    """Bit i set: rule ``RULES[i]`` failed."""


def judge(fields: Fields, words: npt.NDArray[np.uint32], damaged: Mask | None, shape: StreamShape,
          rank_table: npt.NDArray[np.int64], rules: tuple[Rule, ...] = RULES) -> Verdicts:
    """Apply every rule of the format's table to a window of frames."""
    n = len(words)
    rank = rank_table[fields["thread_id"]]
    invalid = fields["invalid"].astype(bool)
    failed = np.zeros(n, dtype=np.int64)
    misplaced = np.zeros(n, dtype=bool) if damaged is None else damaged.copy()
    misshaped = np.zeros(n, dtype=bool)
    for bit, rule in enumerate(rules):
        if rule.name in ("edv", "edv_words") and "edv" not in fields:
            continue
        bad = rule.bad(fields, words, shape, rank)
        if not bad.any():
            continue
        failed |= bad.astype(np.int64) << bit
        if rule.placement:
            misplaced |= bad
        else:
            misshaped |= bad
    placed = ~misplaced
    slot = (fields["seconds"] - shape.ref_second) * shape.fps + fields["frame_nr"] + SLOT_BIAS
    key = np.where(placed, (np.maximum(rank, 0) << RANK_SHIFT) | (slot & SLOT_MASK), 0)
    corrupt = ~invalid & (misplaced | misshaped)
    return Verdicts(rank=rank, key=key, invalid=invalid, placed=placed, corrupt=corrupt, failed=failed)


def describe(fields: Fields, words: npt.NDArray[np.uint32], shape: StreamShape, index: int, failed: int,
             rank: int, rules: tuple[Rule, ...] = RULES) -> str:
    """What is wrong with one frame's header, field by field."""
    parts = [rule.says(fields, words, shape, index, rank) for bit, rule in enumerate(rules) if failed >> bit & 1]
    return "; ".join(parts) or "header disagrees with the stream"
