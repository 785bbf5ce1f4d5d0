"""How the checker reads LOFAR CEP: fixed-size packets from offset 0, each RSP board a thread, time from the samples.

The header has no sync word, so the packets are framed by their size (``SyncRef.fixed``): the one
the first packet's beamlets, time samples and bit mode give (the second must agree), or the
expected. A packet's place is its leading sample since the epoch (``timestamp`` and ``sequence``,
``formats.lofar_cep.timecode``) over the samples per packet. The shared slots want a whole frame
rate; the sample clock has one per 32 s (6 250 000 samples at 200 MHz, 5 000 000 at 160 MHz), so a
header "second" here is a 32-s cycle, as for LWA RBeam. Checked against the expected or the first
packets': version, the error bit, bit mode, clock, station, beamlets and samples per packet, unused bits.
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
from harness.formats.lofar_cep.header import HEADER_BYTES, HeaderError, payload_bytes
from harness.formats.lofar_cep.timecode import CLOCK_HZ, TICKS_PER_SAMPLE, sample_count
from harness.formats.registry import frame_format

FORMAT = frame_format("lofar_cep")
CYCLE_SECONDS = 32
CONSTANT_FIELDS = ("version", "clock_200", "bits", "station", "beamlets", "slices")
"""Fields every packet holds; ``error``, ``source_unused`` and ``mode_unused`` must be 0."""
Keys = npt.NDArray[np.uint64] | None


def _expected(expect: Expectation) -> dict[str, int]:
    given = dict(expect.header_values)
    unknown = set(given) - set(CONSTANT_FIELDS)
    if unknown:
        raise CheckerError(None, f"header values {sorted(unknown)}: a LOFAR CEP stream's are {CONSTANT_FIELDS}")
    if expect.bits is not None:
        given["bits"] = expect.bits
    return given


def _size(fields: dict[str, npt.NDArray[Any]], i: int) -> int:
    return HEADER_BYTES + payload_bytes(int(fields["beamlets"][i]), int(fields["slices"][i]), int(fields["bits"][i]))


def find_sync(recording: Recording, expect: Expectation) -> SyncRef:
    """Packets of the expected size, or of the size the first packet's header gives (the second agreeing)."""
    refused = [name for name, value in (("fps", expect.fps), ("edv", expect.edv), ("nchan", expect.nchan),
                                        ("complex", expect.complex), ("station", expect.station),
                                        ("window", expect.window_start), ("schedule", expect.schedule_start))
               if value not in (None, False)]
    if refused or expect.wants_statistics:
        raise CheckerError(None, f"{', '.join(refused) or 'statistics'}: not for a LOFAR CEP stream (give "
                                 "--threads (RSP ids), --bits, --header-value station=N, beamlets=N, slices=N)")
    _expected(expect)
    if expect.frame_bytes is not None:
        return SyncRef(expect.frame_bytes, 0, format="lofar_cep", words=4, fixed=True)
    segment = recording.segments[0]
    if segment.length < HEADER_BYTES:
        raise CheckerError(segment.path, "no LOFAR CEP packet (fewer than 16 bytes)")
    buffer = recording.buffer(segment)
    first = FORMAT.unpack_headers(np.array(header_words(buffer, segment.start, 1, HEADER_BYTES, 4)))
    try:
        size = _size(first, 0)
    except HeaderError as exc:
        raise CheckerError(segment.path, f"the first packet's bit mode: {exc}; give --frame-bytes") from None
    if size <= HEADER_BYTES:
        raise CheckerError(segment.path, "the first packet has no beamlets or time samples; give --frame-bytes")
    if segment.length >= size + HEADER_BYTES:
        second = FORMAT.unpack_headers(np.array(header_words(buffer, segment.start + size, 1, HEADER_BYTES, 4)))
        if any(int(second[k][0]) != int(first[k][0]) for k in ("beamlets", "slices", "bit_mode")):
            raise CheckerError(segment.path, f"the first packet says {size} bytes, the one after it does not agree: "
                                             "give --frame-bytes")
    del buffer
    return SyncRef(size, 0, format="lofar_cep", words=4, fixed=True)


def _mode(values: npt.NDArray[Any]) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def infer_shape(recording: Recording, sync: SyncRef, expect: Expectation, window: int) -> StreamShape:
    """RSP boards, the constant fields, the packet grid and the reference cycle from the packets at the start."""
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
        raise CheckerError(recording.segments[0].path, f"no whole {sync.frame_bytes}-byte LOFAR CEP packet")
    raw = FORMAT.unpack_headers(np.concatenate(collected))
    if expect.threads is not None:
        boards = tuple(expect.threads)
    else:
        found, counts = np.unique(raw["rsp_id"], return_counts=True)
        boards = tuple(int(b) for b in found[counts >= MINOR_THREAD_SHARE * counts.max()])
    constants = {name: _mode(raw[name]) for name in CONSTANT_FIELDS} | _expected(expect)
    clock, slices = constants["clock_200"], constants["slices"]
    per_cycle = CYCLE_SECONDS * CLOCK_HZ[clock] // TICKS_PER_SAMPLE
    if slices < 1 or per_cycle % slices:
        raise CheckerError(recording.segments[0].path, f"{slices} samples per packet do not divide the "
                                                       f"{per_cycle} samples of 32 s: packets cannot be counted")
    samples = sample_count(raw["timestamp"], raw["sequence"], clock)
    constants["phase"] = _mode(samples % slices)
    n = len(boards)
    return StreamShape(sync=sync, edv=None, fps=per_cycle // slices, fps_source="expected", threads=boards,
                       station=(0,) * n, lg2_nchan=(0,) * n, bits_m1=(0,) * n, complex=(0,) * n,
                       ref_second=int(np.median(raw["timestamp"])) // CYCLE_SECONDS, time_origin=0,
                       second_seconds=CYCLE_SECONDS, constants=tuple(constants.items()))


def header_fields(words: npt.NDArray[np.uint32], shape: StreamShape,
                  want_keys: bool) -> tuple[dict[str, npt.NDArray[Any]], Keys]:
    """The checker's fields of a window of packets (packet index = leading sample / samples per packet)."""
    raw = FORMAT.unpack_headers(words)
    fields: dict[str, npt.NDArray[Any]] = dict(raw)
    constants = dict(shape.constants)
    samples = sample_count(raw["timestamp"], raw["sequence"], constants["clock_200"])
    fields["phase"] = samples % constants["slices"]
    cycle, frame_nr = np.divmod(samples // constants["slices"], shape.fps)
    fields["seconds"], fields["frame_nr"] = cycle, frame_nr
    fields["thread_id"] = raw["rsp_id"]
    fields["invalid"] = np.zeros(len(words), dtype=np.int64)
    return fields, FORMAT.pattern_keys(raw) if want_keys else None


def _constant_rule(name: str, placement: bool = False) -> Rule:
    def expected(s: StreamShape) -> int:
        return dict(s.constants)[name]

    return Rule(name, placement, lambda f, w, s, r: f[name] != expected(s),
                lambda f, w, s, i, r: f"{name} {int(f[name][i])}, the stream's is {expected(s)}")


def _zero_rule(name: str, what: str) -> Rule:
    return Rule(name, False, lambda f, w, s, r: f[name] != 0, lambda f, w, s, i, r: f"{what} is {int(f[name][i])}")


def _size_bad(f: Fields, s: StreamShape) -> npt.NDArray[np.bool_]:
    bits = np.where(f["bits"] > 0, f["bits"], 0)
    return HEADER_BYTES + f["beamlets"] * f["slices"] * 4 * bits // 8 != s.frame_bytes


RULES: tuple[Rule, ...] = (
    Rule("rsp_id", True, lambda f, w, s, r: r < 0,
         lambda f, w, s, i, r: f"RSP id {int(f['rsp_id'][i])} is not one of the stream's {list(s.threads)}"),
    Rule("timestamp", True,
         lambda f, w, s, r: np.abs(f["timestamp"] // CYCLE_SECONDS - s.ref_second) > MAX_TIME_OFFSET // CYCLE_SECONDS,
         lambda f, w, s, i, r: f"timestamp {int(f['timestamp'][i])} is more than a day from the stream's"),
    # a second holds at most ceil(clock / 1024) samples: 195 313 at 200 MHz (every other second 195 312, not
    # judged: the packets are placed by their sample), exactly 156 250 at 160 MHz
    Rule("sequence", True,
         lambda f, w, s, r: f["sequence"] >= -(-CLOCK_HZ[dict(s.constants)["clock_200"]] // TICKS_PER_SAMPLE),
         lambda f, w, s, i, r: f"sequence {int(f['sequence'][i])} is beyond the samples of a second"),
    _constant_rule("phase", placement=True),
    _constant_rule("clock_200", placement=True),
    _constant_rule("slices", placement=True),
    _constant_rule("version"),
    Rule("error", False, lambda f, w, s, r: f["error"] != 0, lambda f, w, s, i, r: "the RSP error bit is set"),
    Rule("bit mode", False, lambda f, w, s, r: f["bits"] < 0, lambda f, w, s, i, r: "bit mode 3 (an error)"),
    _constant_rule("bits"),
    _constant_rule("station"),
    _constant_rule("beamlets"),
    _zero_rule("source_unused", "the unused source-info bit (byte 1, bit 5)"),
    _zero_rule("mode_unused", "the unused bit-mode bits (byte 2, bits 2-7)"),
    Rule("packet size", False, lambda f, w, s, r: _size_bad(f, s),
         lambda f, w, s, i, r: f"{int(f['beamlets'][i])} beamlets x {int(f['slices'][i])} samples of "
                               f"{int(f['bits'][i])} bits do not make the stream's {s.frame_bytes}-byte packets"),
)
"""LOFAR CEP's header rules (placement: board, time, sample grid, clock, samples per packet; shape: the rest)."""
