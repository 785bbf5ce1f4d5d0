"""``vdif-send``: a paced multi-thread VDIF sender over UDP (optionally UDPS/VTP); also Mark5B.

Compatible with the prototype: ``vdif-send --dest 10.107.0.10 --port 50000 --fps 2``.
``--format mark5b --fps N`` (N = bit rate / 80000) sends one Mark5B stream, each 10016-byte frame in
``--frame-parts`` datagrams (default 2: what fits a 9000-byte MTU, as jive5ab reads it), each with its
own sequence number under ``--udps``. ``--format lwa_rbeam --channels N --threads S`` sends LWA RBeam packets
of servers 1..S, each a thread of the schedule, at the sequence clock's rate (196e6/8192 per server).
``--format lofar_cep --beamlets N --bits B`` sends a LOFAR station's CEP packets on ``--lanes`` RSP lanes (default
4), lane k (RSP id k) to UDP port ``--port`` + k with its own beamlets, at the sample clock's packet rate.
Bad input is refused before anything is sent: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from datetime import datetime
from fractions import Fraction
from types import FrameType

from harness.arguments import OneLineParser
from harness.formats.lofar_cep.stream import LofarCepStreamSpec
from harness.formats.lwa_rbeam.stream import LwaRbeamStreamSpec
from harness.formats.mark5b.stream import Mark5bStreamSpec
from harness.formats.registry import FORMATS, frame_format
from harness.formats.vdif.header import HeaderError, station_id
from harness.formats.vdif.payload import PayloadKind, Tone
from harness.formats.vdif.rates import RateError, parse_mode
from harness.formats.vdif.stream import StreamSpec
from harness.sender.lanes import lane_statistics, lofar_stream
from harness.sender.ports import LaneTransport
from harness.sender.processes import run_split
from harness.sender.run import Sender, SenderStats
from harness.sender.transport import SendRefused, UdpTransport
from harness.sender.wire_faults import WireFault
from harness.signals import off_the_signal

EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vdif-send", description=__doc__.split("\n")[0])
    p.add_argument("--dest", required=True, help="destination host or IP (unicast or multicast)")
    p.add_argument("--port", type=int, default=52030, help="destination UDP port (default 52030)")
    rate = p.add_argument_group("rate and stream")
    rate.add_argument("--format", choices=list(FORMATS), default="vdif", help="recording format (default vdif)")
    rate.add_argument("--frame-parts", type=int, default=None,
                      help="mark5b: datagrams per 10016-byte frame, 1, 2 or 4 (default 2, to fit MTU 9000)")
    rate.add_argument("--chan0", type=int, default=0, help="lwa_rbeam: the first channel in each packet (default 0)")
    rate.add_argument("--beamlets", type=int,
                      help="lofar_cep: beamlets per packet (up to 61, 122, 244 at 16, 8, 4 bits)")
    rate.add_argument("--slices", type=int, default=None, help="lofar_cep: time samples per packet (default 16)")
    rate.add_argument("--clock", type=int, default=None,
                      help="lofar_cep: station clock in MHz, 200 or 160 (default 200)")
    rate.add_argument("--lanes", type=int, default=None,
                      help="lofar_cep: RSP lanes 1..4 (RSP ids 0..N-1), lane k to --port + k (default 4)")
    rate.add_argument("--first-beamlets", default=None, metavar="B0,B1,..",
                      help="lofar_cep: each lane's first beamlet (default lane k from k x the lane's capacity)")
    rate.add_argument("--fps", type=int, help="frames per second per thread")
    rate.add_argument("--mode", help="jive5ab mode VDIF_<payload>-<Mbps per thread>-<nchan>-<bits>; sets fps")
    rate.add_argument("--threads", type=int, default=1, help="number of threads, ids 0..N-1 (default 1)")
    rate.add_argument("--payload-bytes", type=int, help="payload bytes per frame, multiple of 8 (default 8000)")
    rate.add_argument("--bits", type=int, help="bits per sample (default 2)")
    rate.add_argument("--channels", type=int, help="channels per thread, a power of two (default 1)")
    rate.add_argument("--complex", action="store_true", default=None, help="complex samples")
    rate.add_argument("--station", default="HX", help="two ASCII characters or a number (default HX)")
    rate.add_argument("--edv", default="0", help="extended data version 0, 1, 3, 4, or 'legacy' (16-byte headers)")
    rate.add_argument("--payload", choices=[k.value for k in PayloadKind], default="pattern")
    rate.add_argument("--tone-freq", type=float, help="tone frequency in Hz within the channel (payload tone)")
    rate.add_argument("--tone-channel", type=int, default=0)
    rate.add_argument("--tone-amplitude", type=float, default=0.3, help="tone amplitude in sigma (default 0.3)")
    wire = p.add_argument_group("wire")
    wire.add_argument("--udps", action="store_true", help="8-byte little-endian sequence number before each frame")
    wire.add_argument("--seq-start", type=int, default=0, help="first sequence number (default 0)")
    wire.add_argument("--ttl", type=int, default=1, help="multicast TTL (default 1)")
    wire.add_argument("--bind", help="source address (and multicast interface)")
    wire.add_argument("--allow-fragmentation", action="store_true", help="send datagrams larger than the MTU")
    wire.add_argument("--wire-fault", action="append", default=[], metavar="KIND:EVERY:AT:DURATION",
                      help="for fault runs: duplicate (send twice) or reorder (send after its thread's next) every "
                           "EVERY-th datagram from AT for DURATION seconds after the first frame (repeatable)")
    wire.add_argument("--no-gso", action="store_true", help="one datagram per send() even where UDP GSO exists")
    wire.add_argument("--drop-every", type=int, default=0, metavar="N",
                      help="for tests: leave out every Nth datagram (its sequence number is used up)")
    wire.add_argument("--skip-thread", type=int, action="append", default=[], metavar="ID",
                      help="never send this thread's frames (repeatable); the others keep their schedule and "
                           "sequence numbers, as if it were sent: a thread that never comes")
    run = p.add_argument_group("run")
    run.add_argument("--duration", type=float, help="seconds to send")
    run.add_argument("--frames", type=int, help="frames to send per thread")
    run.add_argument("--start-time", help="ISO-8601 UTC or POSIX seconds; default the next whole second")
    run.add_argument("--processes", type=int, default=1, metavar="N",
                     help="share the threads out over N processes (one core each) that keep one schedule and one "
                          "sequence-number space (default 1)")
    run.add_argument("--json", action="store_true", help="final statistics as JSON on stdout")
    run.add_argument("--progress", type=float, default=0.0, metavar="S",
                     help="every S seconds a JSON progress line on stderr")
    return p


VDIF_ONLY: tuple[tuple[str, object], ...] = (
    ("mode", None), ("payload_bytes", None), ("bits", None), ("channels", None), ("complex", None), ("edv", "0"),
    ("payload", "pattern"), ("threads", 1), ("skip_thread", []),
)
"""Options a Mark5B stream has no use for, with their defaults (given otherwise: refused)."""


def mark5b_from_args(args: argparse.Namespace) -> Mark5bStreamSpec:
    """The Mark5B stream the arguments describe (one stream, pattern payload, the station in the user bits)."""
    given = [f"--{name.replace('_', '-')}" for name, default in VDIF_ONLY if getattr(args, name) != default]
    if given:
        raise ValueError(f"{', '.join(given)}: not for a Mark5B stream (one stream of 10016-byte frames, "
                         "pattern payload)")
    if args.fps is None:
        raise RateError("give the rate: --fps N (Mark5B: the bit rate / 80000)")
    parts = 2 if args.frame_parts is None else args.frame_parts
    return Mark5bStreamSpec(fps=args.fps, user=station_id(args.station), udps=args.udps, parts=parts)


LWA_REFUSED: tuple[tuple[str, object], ...] = (
    ("fps", None), ("mode", None), ("payload_bytes", None), ("bits", None), ("complex", None), ("edv", "0"),
    ("payload", "pattern"), ("udps", False), ("frame_parts", None),
)
"""Options an LWA RBeam stream has no use for (its rate is its sequence clock's, its payload float32)."""


def lwa_from_args(args: argparse.Namespace) -> LwaRbeamStreamSpec:
    """The LWA RBeam stream the arguments describe: servers 1..--threads, --channels per packet, --chan0."""
    given = [f"--{name.replace('_', '-')}" for name, default in LWA_REFUSED if getattr(args, name) != default]
    if given:
        raise ValueError(f"{', '.join(given)}: not for an LWA RBeam stream (its rate is the sequence clock's, "
                         "196e6/8192 packets/s per server; pattern payload)")
    if args.channels is None:
        raise ValueError("give the channels per packet: --channels N")
    return LwaRbeamStreamSpec(nchan=args.channels, servers=tuple(range(1, args.threads + 1)), chan0=args.chan0)


LOFAR_REFUSED: tuple[tuple[str, object], ...] = (
    ("fps", None), ("mode", None), ("payload_bytes", None), ("channels", None), ("complex", None), ("edv", "0"),
    ("payload", "pattern"), ("udps", False), ("frame_parts", None), ("threads", 1), ("chan0", 0),
)
"""Options a LOFAR CEP stream has no use for (its rate is the sample clock's, its lanes --lanes)."""
LOFAR_ONLY = ("beamlets", "slices", "clock", "lanes", "first_beamlets")


def lofar_from_args(args: argparse.Namespace) -> LofarCepStreamSpec:
    """The LOFAR CEP stream the arguments describe: lanes 0..--lanes-1, --beamlets per packet of --bits."""
    given = [f"--{name.replace('_', '-')}" for name, default in LOFAR_REFUSED if getattr(args, name) != default]
    if given:
        raise ValueError(f"{', '.join(given)}: not for a LOFAR CEP stream (its rate is the sample clock's, "
                         "clock / 1024 / slices packets/s per lane; lanes by --lanes; pattern payload)")
    if args.beamlets is None:
        raise ValueError("give the beamlets per packet: --beamlets N")
    lanes = 4 if args.lanes is None else args.lanes
    if not 1 <= lanes <= 4:
        raise ValueError(f"--lanes {lanes}: a station has 1 to 4 RSP lanes")
    first = None
    if args.first_beamlets is not None:
        try:
            first = tuple(int(b) for b in args.first_beamlets.split(","))
        except ValueError:
            raise ValueError(f"--first-beamlets {args.first_beamlets!r}: numbers like 0,122,244,366") from None
    return LofarCepStreamSpec(station=station_id(args.station), bits=8 if args.bits is None else args.bits,
                              beamlets=args.beamlets, slices=16 if args.slices is None else args.slices,
                              clock_mhz=200 if args.clock is None else args.clock, rsp_ids=tuple(range(lanes)),
                              first_beamlets=first)


Sendable = StreamSpec | Mark5bStreamSpec | LwaRbeamStreamSpec | LofarCepStreamSpec


def sendable_from_args(args: argparse.Namespace) -> Sendable:
    """The stream of the format the arguments name (``--format``)."""
    if frame_format(args.format).name == "lofar_cep":
        return lofar_from_args(args)
    given = [f"--{name.replace('_', '-')}" for name in LOFAR_ONLY if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: only for a LOFAR CEP stream (--format lofar_cep)")
    if frame_format(args.format).name == "mark5b":
        return mark5b_from_args(args)
    if frame_format(args.format).name == "lwa_rbeam":
        return lwa_from_args(args)
    if args.frame_parts is not None:
        raise ValueError("--frame-parts is for Mark5B (a VDIF frame goes in one datagram)")
    return stream_from_args(args)


def stream_from_args(args: argparse.Namespace) -> StreamSpec:
    """The VDIF stream the arguments describe; raises ValueError subclasses with one-line reasons."""
    payload, bits, nchan, complex_ = args.payload_bytes, args.bits, args.channels, args.complex
    edv: int | None = None if str(args.edv).lower() == "legacy" else int(args.edv)
    fps = args.fps
    if args.mode:
        mode = parse_mode(args.mode)
        for name, given, derived in (("--payload-bytes", payload, mode.payload_bytes), ("--bits", bits, mode.bits),
                                     ("--channels", nchan, mode.nchan), ("--fps", fps, mode.frames_per_second)):
            if given is not None and given != derived:
                raise RateError(f"{name} {given} contradicts --mode {args.mode} ({derived})")
        payload, bits, nchan, fps = mode.payload_bytes, mode.bits, mode.nchan, mode.frames_per_second
        complex_ = mode.complex
        if mode.legacy:
            edv = None
    if fps is None:
        raise RateError("give the rate: --fps N or --mode VDIF_...")
    if not 1 <= args.threads <= 1024:
        raise HeaderError(f"--threads {args.threads} is outside 1..1024 (thread ids 0..1023)")
    kind = PayloadKind(args.payload)
    tone = None
    if kind is PayloadKind.TONE:
        if args.tone_freq is None:
            raise ValueError("--payload tone needs --tone-freq HZ")
        tone = Tone(args.tone_freq, args.tone_channel, args.tone_amplitude)
    return StreamSpec(
        fps=fps, payload_bytes=8000 if payload is None else payload, threads=tuple(range(args.threads)),
        bits=2 if bits is None else bits, nchan=1 if nchan is None else nchan, complex=bool(complex_),
        station=station_id(args.station), edv=edv, payload=kind, tone=tone, udps=args.udps,
    )


def start_time(text: str | None, fps: int | Fraction) -> Fraction:
    """The first frame's time: given, or the next whole second; always on a frame boundary."""
    if text is None:
        return Fraction(math.ceil((math.floor(time.time()) + 1) * fps), fps)
    try:
        value = Fraction(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--start-time {text!r} is neither ISO-8601 nor POSIX seconds") from None
        value = Fraction(when.timestamp()).limit_denominator(1_000_000)
    frames = math.ceil(value * fps)
    return Fraction(frames, fps)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = sendable_from_args(args)
        bad_duration = args.duration is not None and not 0 < args.duration < 1e9
        if bad_duration or (args.frames is not None and args.frames <= 0):
            raise ValueError("--duration and --frames must be positive (and a duration finite)")
        if args.drop_every < 0 or args.drop_every == 1:
            raise ValueError("--drop-every must be 0 (off) or at least 2")
        skip = tuple(sorted(set(args.skip_thread)))
        if any(t not in spec.threads for t in skip):
            raise ValueError(f"--skip-thread {', '.join(map(str, skip))}: the stream's threads are "
                             f"0..{len(spec.threads) - 1}")
        if len(skip) == len(spec.threads):
            raise ValueError("--skip-thread would leave no thread to send")
        frames = args.frames
        if args.duration is not None:
            duration_frames = round(args.duration * spec.fps)
            frames = duration_frames if frames is None else min(frames, duration_frames)
        wire_faults = tuple(WireFault.parse(text) for text in args.wire_fault)
        if not 1 <= args.processes <= len(spec.threads) - len(skip):
            raise ValueError(f"--processes {args.processes}: 1 up to the threads sent "
                             f"({len(spec.threads) - len(skip)})")
        if args.processes > 1 and not isinstance(spec, StreamSpec):
            raise ValueError("--processes needs a VDIF stream (threads to share out)")
        if args.processes > 1 and wire_faults:
            raise ValueError("--wire-fault needs one process (--processes 1): a re-order spans the threads")
        start = start_time(args.start_time, spec.fps)

        def make_transport() -> UdpTransport:
            return UdpTransport(args.dest, args.port, spec.datagram_bytes, bind=args.bind, ttl=args.ttl,
                                allow_fragmentation=args.allow_fragmentation, gso=not args.no_gso)

        # refused here, before any process starts, if it must be
        if isinstance(spec, LofarCepStreamSpec):
            transport: UdpTransport | LaneTransport = LaneTransport(
                args.dest, args.port, len(spec.threads), spec.datagram_bytes, bind=args.bind, ttl=args.ttl,
                allow_fragmentation=args.allow_fragmentation, gso=not args.no_gso)
        else:
            transport = make_transport()
    except (ValueError, SendRefused) as exc:
        print(f"vdif-send: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.processes > 1 and isinstance(spec, StreamSpec):
        transport.close()
        stats = run_split(spec, start, args.processes, make_transport, frames=frames, first_sequence=args.seq_start,
                          drop_every=args.drop_every, skip_threads=skip, progress=args.progress)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        report(stats, spec, args.json)
        return 0
    sender = Sender(spec, transport, start, frames=frames, first_sequence=args.seq_start,
                    drop_every=args.drop_every, skip_threads=skip, progress=args.progress,
                    wire_faults=wire_faults)

    def stop(signum: int, _frame: FrameType | None) -> None:
        off_the_signal(sender.stop.set)  # the loop may be inside stop.wait(), holding its lock

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stats = sender.run()
    finally:
        transport.close()
    # stopping: a second SIGTERM/SIGINT must not cut the statistics short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    report(stats, spec, args.json, transport)
    return 0


def report(stats: SenderStats, spec: Sendable, as_json: bool, transport: object = None) -> None:
    document = stats.to_json()
    if isinstance(spec, LofarCepStreamSpec):
        document["stream"] = lofar_stream(spec)
        if isinstance(transport, LaneTransport):
            document["ports"] = lane_statistics(stats, spec, transport)
    elif isinstance(spec, LwaRbeamStreamSpec):
        document["stream"] = {
            "format": "lwa_rbeam", "fps_per_thread": float(spec.fps), "threads": list(spec.threads),
            "frame_bytes": spec.frame_bytes, "nchan": spec.nchan, "chan0": spec.chan0, "payload": "pattern",
        }
    elif isinstance(spec, Mark5bStreamSpec):
        document["stream"] = {
            "format": "mark5b", "fps_per_thread": spec.fps, "threads": list(spec.threads),
            "frame_bytes": spec.frame_bytes, "datagrams_per_frame": spec.parts, "udps": spec.udps,
            "payload": "pattern", "station": spec.user,
        }
    else:
        document["stream"] = {
            "format": "vdif", "mode": spec.mode.mode_string, "fps_per_thread": spec.fps, "threads": list(spec.threads),
            "payload_bytes": spec.payload_bytes, "frame_bytes": spec.frame_bytes, "udps": spec.udps,
            "payload": spec.payload.value, "station": spec.station, "edv": spec.edv,
        }
    if as_json:
        print(json.dumps(document, indent=2))
    errors = ", ".join(f"{k} {v}" for k, v in document["send_errors"].items()) or "none"
    print(
        f"vdif-send: {document['frames_sent']} frames ({document['bytes_sent']} bytes) in "
        f"{document['elapsed_s']:.3f} s, {document['achieved_gbps']:.3f} Gbit/s of {document['target_gbps']:.3f}; "
        f"worst second {document['worst_second_error_pct']} %; send errors: {errors}"
        f"{'; interrupted' if stats.interrupted else ''}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
