"""How the checker reads LWA RBeam: fixed-size packets from offset 0, each server a thread, time from ``seq``.

The header has no sync word and no length field, so the packets are framed by their size alone
(``SyncRef.fixed``): the expected nchan x nbeam, or the first packet's (the second must agree).
Continuity is the shared one with each ``server`` a thread. The shared slots want a whole frame
rate, and the sequence clock (196e6 / 8192 /s) has none; it has exactly 765 625 steps every 32 s,
so a header's "second" here is a 32-s cycle (``seq // 765625``) and its frame number the step within
it (``seq % 765625``): a lost, duplicated or reordered packet is one slot, exactly. The fields every
packet holds (nchan, nbeam, nserver, chan0) are checked against the expected or the first packets'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.checker.errors import CheckerError
from harness.checker.expectation import Expectation
from harness.checker.framing import Run, SyncRef, frame_runs, header_words
from harness.checker.readers import Recording
from harness.checker.rules import MAX_TIME_OFFSET, Fields, Rule
from harness.checker.shape import MINOR_THREAD_SHARE, PREPASS_MAX_FRAMES, PREPASS_MIN_FRAMES, StreamShape
from harness.formats.lwa_rbeam.header import HEADER_BYTES, frame_bytes
from harness.formats.lwa_rbeam.payload import first_wrong
from harness.formats.lwa_rbeam.timecode import CYCLE_PACKETS, CYCLE_SECONDS
from harness.formats.registry import frame_format

FORMAT = frame_format("lwa_rbeam")
CONSTANT_FIELDS = ("nchan", "nbeam", "nserver", "chan0")
LAST_CYCLE = 253402300799 // CYCLE_SECONDS
"""The cycle of 9999-12-31: a sequence number beyond it (garbage) is held there, out of reach of the time rule."""
Keys = npt.NDArray[np.uint64] | None


def _expected_constants(expect: Expectation) -> dict[str, int]:
    given = dict(expect.header_values)
    unknown = set(given) - set(CONSTANT_FIELDS)
    if unknown:
        raise CheckerError(None, f"header values {sorted(unknown)}: an LWA RBeam stream's are {CONSTANT_FIELDS}")
    if expect.nchan is not None:
        given["nchan"] = expect.nchan
    return given


def find_sync(recording: Recording, expect: Expectation) -> SyncRef:
    """Packets of the expected size, or of the size the first packet's nchan and nbeam give (the second agreeing)."""
    vdif_only = [name for name, value in (("fps", expect.fps), ("edv", expect.edv), ("bits", expect.bits),
                                          ("complex", expect.complex), ("station", expect.station))
                 if value not in (None, False)]
    if vdif_only:
        raise CheckerError(None, f"{', '.join(vdif_only)}: not for an LWA RBeam stream (its packet rate is the "
                                 "sequence clock's; give --nchan, --threads (servers), --header-value)")
    if expect.window_start is not None or expect.schedule_start is not None:
        raise CheckerError(None, "capture windows and schedules are not implemented for LWA RBeam")
    if expect.wants_statistics:
        raise CheckerError(recording.segments[0].path, "sample statistics of LWA RBeam payloads are not implemented")
    given = _expected_constants(expect)
    if expect.frame_bytes is not None:
        size = expect.frame_bytes
    elif "nchan" in given:
        size = frame_bytes(given["nchan"], given.get("nbeam", 1))
    else:
        segment = recording.segments[0]
        if segment.length < HEADER_BYTES:
            raise CheckerError(segment.path, "no LWA RBeam packet (fewer than 16 bytes)")
        buffer = recording.buffer(segment)
        first = FORMAT.unpack_headers(np.array(header_words(buffer, segment.start, 1, HEADER_BYTES, 4)))
        nchan, nbeam = int(first["nchan"][0]), int(first["nbeam"][0])
        size = frame_bytes(max(nchan, 1), max(nbeam, 1))
        if nchan < 1 or nbeam < 1:
            raise CheckerError(segment.path, f"the first packet says nchan {nchan}, nbeam {nbeam}: give --nchan")
        if segment.length >= size + HEADER_BYTES:
            second = FORMAT.unpack_headers(np.array(header_words(buffer, segment.start + size, 1, HEADER_BYTES, 4)))
            if (int(second["nchan"][0]), int(second["nbeam"][0])) != (nchan, nbeam):
                raise CheckerError(segment.path, f"the first packet says {nchan} channels x {nbeam} beams "
                                                 f"({size} bytes), the one after it does not agree: give --nchan")
        del buffer
    return SyncRef(size, 0, format="lwa_rbeam", words=HEADER_BYTES // 4, fixed=True)


def _mode(values: npt.NDArray[Any]) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def infer_shape(recording: Recording, sync: SyncRef, expect: Expectation, window: int) -> StreamShape:
    """Servers, the constant fields and the reference cycle from the packets at the start."""
    collected: list[npt.NDArray[np.uint32]] = []
    total = 0
    for index, segment in enumerate(recording.segments):
        buffer = recording.buffer(segment)
        for piece in frame_runs(buffer, segment.start, segment.length, sync, window):
            if isinstance(piece, Run):
                collected.append(np.array(header_words(buffer, segment.start + piece.start, piece.count,
                                                       sync.frame_bytes, 4)))
                total += piece.count
            if total >= PREPASS_MAX_FRAMES:
                break
        del buffer
        recording.finished(index)
        if total >= PREPASS_MIN_FRAMES:
            break
    if not collected:
        raise CheckerError(recording.segments[0].path, f"no whole {sync.frame_bytes}-byte LWA RBeam packet")
    raw = FORMAT.unpack_headers(np.concatenate(collected))
    if expect.threads is not None:
        servers = tuple(expect.threads)
    else:
        found, counts = np.unique(raw["server"], return_counts=True)
        servers = tuple(int(s) for s in found[counts >= MINOR_THREAD_SHARE * counts.max()])
    constants = {name: _mode(raw[name]) for name in CONSTANT_FIELDS} | _expected_constants(expect)
    seq = raw["seq"][raw["seq"] > 0]
    ref_cycle = min(int(np.median(seq // np.uint64(CYCLE_PACKETS))), LAST_CYCLE) if len(seq) else 0
    n = len(servers)
    return StreamShape(sync=sync, edv=None, fps=CYCLE_PACKETS, fps_source="expected", threads=servers,
                       station=(0,) * n, lg2_nchan=(0,) * n, bits_m1=(0,) * n, complex=(0,) * n,
                       ref_second=ref_cycle, time_origin=0, second_seconds=CYCLE_SECONDS,
                       constants=tuple(constants.items()))


def header_fields(words: npt.NDArray[np.uint32], shape: StreamShape,
                  want_keys: bool) -> tuple[dict[str, npt.NDArray[Any]], Keys]:
    """The checker's fields of a window of packets (the 32-s cycle as ``seconds``), and their pattern keys."""
    raw = FORMAT.unpack_headers(words)
    fields: dict[str, npt.NDArray[Any]] = dict(raw)
    cycle, step = np.divmod(raw["seq"], np.uint64(CYCLE_PACKETS))
    fields["seconds"] = np.minimum(cycle, np.uint64(LAST_CYCLE)).astype(np.int64)
    fields["frame_nr"] = step.astype(np.int64)
    fields["thread_id"] = np.clip(raw["server"], 0, 1023)
    fields["invalid"] = np.zeros(len(words), dtype=np.int64)
    return fields, FORMAT.pattern_keys(raw) if want_keys else None


def check_payload(payloads: npt.NDArray[Any], keys: npt.NDArray[np.uint64],
                  check: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    return first_wrong(payloads, keys, check)


def _constant_rule(name: str) -> Rule:
    def expected(s: StreamShape) -> int:
        return dict(s.constants)[name]

    return Rule(name, False, lambda f, w, s, r: f[name] != expected(s),
                lambda f, w, s, i, r: f"{name} {int(f[name][i])}, the stream's is {expected(s)}")


def _size_bad(f: Fields, s: StreamShape) -> npt.NDArray[np.bool_]:
    return HEADER_BYTES + f["nchan"] * f["nbeam"] * 8 != s.frame_bytes


RULES: tuple[Rule, ...] = (
    Rule("seq", True, lambda f, w, s, r: f["seq"] == 0,
         lambda f, w, s, i, r: "sequence number 0 (it is 1-based)"),
    Rule("server", True, lambda f, w, s, r: r < 0,
         lambda f, w, s, i, r: f"server {int(f['server'][i])} is not one of the stream's {list(s.threads)}"),
    Rule("seconds", True, lambda f, w, s, r: np.abs(f["seconds"] - s.ref_second) > MAX_TIME_OFFSET // CYCLE_SECONDS,
         lambda f, w, s, i, r: f"sequence number {int(f['seq'][i])} is more than a day from the stream's"),
    *(_constant_rule(name) for name in CONSTANT_FIELDS),
    Rule("packet size", False, lambda f, w, s, r: _size_bad(f, s),
         lambda f, w, s, i, r: f"{int(f['nchan'][i])} channels x {int(f['nbeam'][i])} beams make a "
                               f"{HEADER_BYTES + int(f['nchan'][i]) * int(f['nbeam'][i]) * 8}-byte packet, the "
                               f"stream's are {s.frame_bytes} bytes"),
)
"""LWA RBeam's header rules (placement: seq, server, time; shape: the constant fields and the packet size)."""
