"""A scenario stream of a format other than VDIF: its own fields, the format layer's stream it makes, and what the
sender, the checker and the reference recorder are told of it.

VDIF streams keep their own paths (schema.Stream, sender_argv, expectation_fields, setup.mode_string), unchanged;
the sizes and rates here come from the format layer's stream specs (``harness/formats/<name>/stream.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from harness.formats.lwa_rbeam.stream import LwaRbeamStreamSpec
from harness.formats.mark5b.stream import Mark5bStreamSpec
from harness.formats.vdif.header import station_id
from harness.formats.vdif.rates import ObservingMode

FormatSpec = Mark5bStreamSpec | LwaRbeamStreamSpec

SENDABLE = ("vdif", "mark5b", "lwa_rbeam")
"""The formats vdif-send sends, so a scenario can run."""
NO_SENDER = {"lofar_cep": "a scenario does not drive LOFAR CEP yet (its four ports want a recorder each; by hand: "
                          "vdif-send --format lofar_cep, vdif-check --format lofar_cep FOLDER)"}
"""Formats of the format table a scenario refuses, and why."""

OWN_FIELDS: dict[str, tuple[str, ...]] = {"vdif": (), "mark5b": ("frame_parts",), "lwa_rbeam": ("servers", "chan0")}
"""The fields only one format has (all default None)."""
VDIF_FIELDS = ("mode", "payload_bytes", "threads", "bits", "channels", "complex", "edv", "tone", "station", "fps")
"""The stream's VDIF fields, in the order a refusal names them."""
TAKES: dict[str, frozenset[str]] = {"mark5b": frozenset({"fps", "station"}),
                                    "lwa_rbeam": frozenset({"channels"})}
"""The VDIF fields another format takes too (Mark5B: its frame rate, the station in its 16 user bits)."""
WHAT: dict[str, str] = {
    "mark5b": "one stream of 10016-byte frames at fps (= bit rate / 80000), station in the user bits, frame_parts "
              "datagrams per frame, pattern payload",
    "lwa_rbeam": "servers 1..N at the sequence clock's 196e6/8192 packets/s each, channels per packet, chan0, "
                 "pattern payload, no sequence numbers",
}


class FieldRefused(ValueError):
    """A stream field that does not fit the stream's format; ``field`` names it (the loader points at its line)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def with_article(fmt: str) -> str:
    """The format's name with its article, as a sentence says it ("an lwa_rbeam stream")."""
    return f"{'an' if fmt[0] in 'aeiloux' else 'a'} {fmt}"


def refused_field(fmt: str, given: set[str], values: dict[str, Any]) -> FieldRefused | None:
    """The first field given that the format ``fmt`` has no use for, or a value it cannot take; None when all fit."""
    for other, own in OWN_FIELDS.items():
        for name in own:
            if other != fmt and name in given:
                return FieldRefused(name, f"for {with_article(other)} stream, not {fmt}")
    if fmt == "vdif":
        return None
    for name in VDIF_FIELDS:
        if name in given and name not in TAKES[fmt]:
            return FieldRefused(name, f"not for {with_article(fmt)} stream ({WHAT[fmt]}): leave it out")
    stream = f"{with_article(fmt)} stream"
    if values.get("payload") != "pattern":
        return FieldRefused("payload", f"pattern for {stream} (its sender sends the test pattern only)")
    if values.get("source") != "harness":
        return FieldRefused("source", f"harness for {stream} (an external stream is VDIF for now: the stand-in "
                                      "sender and the capture window are VDIF's)")
    if fmt == "lwa_rbeam" and values.get("udps"):
        return FieldRefused("udps", "false for an lwa_rbeam stream (one packet per datagram, no sequence number, as "
                                    "the LWA digital system sends it)")
    if fmt == "mark5b" and "fps" not in given:
        return FieldRefused("fps", "the rate of a mark5b stream: fps (frames/s = bit rate / 80000)")
    if fmt == "lwa_rbeam" and "channels" not in given:
        return FieldRefused("channels", "the channels per packet of an lwa_rbeam stream: channels N")
    return None


def format_spec(fmt: str, *, fps: int | None, station: str | int, udps: bool, frame_parts: int | None,
                channels: int, servers: int | None, chan0: int | None) -> FormatSpec:
    """The format layer's stream of a non-VDIF scenario stream (refuses what the format cannot send)."""
    if fmt == "mark5b":
        return Mark5bStreamSpec(fps=fps or 0, user=station_id(station), udps=udps,
                                parts=2 if frame_parts is None else frame_parts)
    if fmt == "lwa_rbeam":
        return LwaRbeamStreamSpec(nchan=channels, servers=tuple(range(1, (servers or 1) + 1)), chan0=chan0 or 0)
    raise ValueError(f"format {fmt!r} has no stream spec here (VDIF streams keep their own)")


def own_values(spec: FormatSpec) -> dict[str, Any]:
    """A stream's own fields as its format spec took them (defaults filled in), for results.json."""
    if isinstance(spec, Mark5bStreamSpec):
        return {"frame_parts": spec.parts}
    return {"servers": len(spec.servers), "chan0": spec.chan0}


def spec_field(fmt: str, message: str) -> str:
    """The field a format spec's refusal is about (for the loader's line)."""
    if fmt == "mark5b":
        return "frame_parts" if "datagrams" in message else "fps" if "frames/s" in message else "station"
    return "chan0" if "chan0" in message else "servers" if "servers" in message else "channels"


def sender_options(spec: FormatSpec) -> list[str]:
    """vdif-send's options for this stream (its format, rate and shape; nothing vdif-send refuses for it)."""
    if isinstance(spec, Mark5bStreamSpec):
        return ["--format", "mark5b", "--fps", str(spec.fps), "--frame-parts", str(spec.parts),
                "--station", str(spec.user)]
    return ["--format", "lwa_rbeam", "--channels", str(spec.nchan), "--threads", str(len(spec.servers)),
            "--chan0", str(spec.chan0)]


def expectation(spec: FormatSpec) -> dict[str, Any]:
    """The checker's Expectation fields for this stream (format, sizes, threads, header values)."""
    if isinstance(spec, Mark5bStreamSpec):
        return {"format": "mark5b", "frame_bytes": spec.frame_bytes, "threads": spec.threads, "fps": spec.fps,
                "station": spec.user, "payload": "pattern"}
    return {"format": "lwa_rbeam", "frame_bytes": spec.frame_bytes, "threads": spec.threads, "nchan": spec.nchan,
            "header_values": (("chan0", spec.chan0),), "payload": "pattern"}


def judges_schedule(spec: FormatSpec) -> bool:
    """Whether the checker takes the sender's schedule for its loss profile (not implemented for LWA RBeam)."""
    return isinstance(spec, Mark5bStreamSpec)


@dataclass(frozen=True)
class RecorderFrame:
    """What the reference recorder is told of a stream it has no mode for: the VDIF mode whose frame is one
    datagram's payload (all it takes the mode for: the slot size), and that slot size."""

    mode: str
    datagram_payload: int
    frame_bytes: int
    """A chunk must hold whole frames of the format (a Mark5B frame is several datagrams)."""


def recorder_frame(spec: FormatSpec) -> RecorderFrame:
    """The reference recorder's mode for this stream. Its rate is the stream's datagrams per second rounded up to a
    whole number (a VDIF mode's frame rate is whole; LWA RBeam's 765625/32 per server is not): the recorder shows
    it in ``mode?``/``constraints?`` and sizes nothing by it. Legacy (16-byte) headers, so that any datagram of
    at least 24 bytes has a mode."""
    payload = spec.frame_bytes // spec.datagrams_per_frame
    per_second = Fraction(spec.fps) * len(spec.threads) * spec.datagrams_per_frame
    mode = ObservingMode.from_frame_rate(math.ceil(per_second), payload_bytes=payload - 16, legacy=True)
    return RecorderFrame(mode.mode_string, payload, spec.frame_bytes)


def whole_frame_workbuf(frame: RecorderFrame, workbuf: int, min_block: int) -> int:
    """A work buffer whose chunks hold whole frames: the recorder makes a chunk of max(workbuf, its minimum block)
    bytes rounded down to whole datagrams, so the larger of the two is rounded up to whole frames."""
    return math.ceil(max(workbuf, min_block) / frame.frame_bytes) * frame.frame_bytes
