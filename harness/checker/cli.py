"""``vdif-check``: validate VDIF recordings (flat files, FlexBuff vbs scans, Mark6 scans).

Usage: ``vdif-check [--json] FILE...`` | ``vdif-check [--json] --scan NAME --disks 'GLOB'``
| ``vdif-check --format lofar_cep [--json] FOLDER`` (each file one port's recording, a result per port)
| ``vdif-check [--json] --mark6 NAME --disks 'GLOB'``, plus options describing the expected stream.
Exit code 0 when clean, 1 when there are findings, 2 for unreadable input or bad usage (one line
on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from harness.arguments import OneLineParser
from harness.checker.errors import CheckerError
from harness.checker.expectation import PAYLOAD_KINDS, Expectation
from harness.checker.parallel import CheckJob, check_many
from harness.checker.result import CheckResult
from harness.formats.registry import FORMATS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


class _Parser(OneLineParser):
    """vdif-check's own (exit code 2 is its EXIT_UNREADABLE too)."""


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of worker processes (1..256)")
    return int(text)


def _threads(text: str) -> tuple[int, ...]:
    out: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            out.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads {text!r} are not ids like 0,1,2,3 or 0-3") from None
    return tuple(out)


def _when(text: str) -> float:
    """POSIX seconds, or an ISO-8601 time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither POSIX seconds nor an ISO-8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vdif-check", description=(__doc__ or "").split("\n")[0])
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="flat files, the consecutive parts of one recording; or (lofar_cep) one FOLDER of a station's "
                        "ports, each file one port's recording, checked on its own")
    where = p.add_argument_group("scans on disk")
    where.add_argument("--scan", action="append", metavar="NAME", help="FlexBuff vbs scan (repeat for several)")
    where.add_argument("--mark6", action="append", metavar="NAME", help="Mark6 scatter-gather scan (repeatable)")
    where.add_argument("--disks", metavar="GLOB", help="mount-point glob, e.g. '/mnt/disk*'")
    where.add_argument("--jobs", type=_jobs, default=None, help="worker processes for several scans (default: cores)")
    stream = p.add_argument_group("the expected stream (inferred from the data when not given)")
    stream.add_argument("--format", choices=list(FORMATS), default="vdif",
                        help="recording format (default vdif; mark5b: 10016-byte frames, one stream)")
    stream.add_argument("--frame-bytes", type=int, help="frame size including the header")
    stream.add_argument("--threads", type=_threads, help="thread ids, e.g. 0,1,2,3 or 0-3")
    stream.add_argument("--fps", type=int, help="frames per second per thread")
    stream.add_argument("--payload", choices=[*PAYLOAD_KINDS, "none"], default="none",
                        help="pattern: verify every payload; noise/tone: sample statistics; none: external source")
    stream.add_argument("--station", help="station: two ASCII characters or a number")
    stream.add_argument("--bits", type=int, help="bits per sample")
    stream.add_argument("--nchan", type=int, help="channels per thread")
    stream.add_argument("--complex", action="store_true", default=None, help="complex samples")
    stream.add_argument("--edv", help="extended data version, or 'legacy' for 16-byte headers")
    stream.add_argument("--tone-hz", type=float, help="frequency of the injected tone (payload tone)")
    stream.add_argument("--tone-channel", type=int, default=0)
    stream.add_argument("--expected-frames", type=int, help="frames the recording should hold (e.g. frames sent)")
    stream.add_argument("--statistics", action="store_true", default=None,
                        help="sample statistics also for pattern or external streams")
    stream.add_argument("--window-start", type=_when, metavar="TIME",
                        help="the recording began (POSIX seconds or ISO-8601): frames due from then on")
    stream.add_argument("--window-end", type=_when, metavar="TIME", help="the recording ended")
    stream.add_argument("--window-tolerance", type=float, default=0.5, metavar="S",
                        help="recorder start/stop latency allowed at each end of the window (default 0.5 s)")
    stream.add_argument("--schedule-start", type=_when, metavar="TIME",
                        help="the source's first frame (a sender's schedule): the loss profile's seconds are due "
                             "its frames")
    stream.add_argument("--schedule-end", type=_when, metavar="TIME", help="the end of the source's last frame")
    stream.add_argument("--reorder-window", type=int, default=64,
                        help="frames a frame may be late and count as out of order (default 64)")
    stream.add_argument("--header-value", action="append", type=_header_value, default=[], metavar="FIELD=N",
                        help="a value every header holds, for a format's own fields (lwa_rbeam: chan0, nbeam, "
                             "nserver; repeatable)")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="the result as a JSON document on stdout")
    out.add_argument("--max-findings", type=int, default=10, help="findings shown in full per kind (default 10)")
    return p


def expectation(args: argparse.Namespace) -> Expectation:
    return Expectation(
        frame_bytes=args.frame_bytes, threads=args.threads, fps=args.fps,
        payload=None if args.payload == "none" else args.payload, station=args.station, bits=args.bits,
        nchan=args.nchan, complex=args.complex, edv=args.edv, tone_hz=args.tone_hz, tone_channel=args.tone_channel,
        expected_frames=args.expected_frames, statistics=args.statistics, window_start=args.window_start,
        window_end=args.window_end, window_tolerance_s=args.window_tolerance, schedule_start=args.schedule_start,
        schedule_end=args.schedule_end, reorder_window=args.reorder_window, max_findings=args.max_findings,
        format=args.format, header_values=tuple(args.header_value),
    )


def _header_value(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=NUMBER") from None


def jobs_from(args: argparse.Namespace, expect: Expectation) -> list[CheckJob]:
    scans = [("scan", n) for n in args.scan or []] + [("mark6", n) for n in args.mark6 or []]
    if scans and args.files:
        raise CheckerError(None, "give either FILEs or --scan/--mark6 NAME --disks GLOB, not both")
    if scans:
        if not args.disks:
            raise CheckerError(None, "--scan and --mark6 need --disks 'GLOB' (the mount points)")
        return [CheckJob(kind, name=name, disks=args.disks, expect=expect) for kind, name in scans]
    if args.disks:
        raise CheckerError(None, "--disks needs --scan NAME or --mark6 NAME")
    if not args.files:
        raise CheckerError(None, "nothing to check: give FILEs, or --scan NAME --disks GLOB")
    if any(os.path.isdir(f) for f in args.files):
        return [CheckJob("files", paths=(path,), expect=expect) for path in port_files(args)]
    return [CheckJob("files", paths=tuple(args.files), expect=expect)]


def port_files(args: argparse.Namespace) -> list[str]:
    """A LOFAR station's FOLDER: each file in it one port's recording (its RSP lane), checked on its own."""
    if args.format != "lofar_cep" or len(args.files) > 1:
        raise CheckerError(None, f"{args.files[0] if len(args.files) == 1 else 'a FILE'} is a folder: a folder "
                                 "(alone) is a LOFAR station's ports, one recording each (--format lofar_cep)")
    if args.threads is not None:
        raise CheckerError(None, "--threads with a folder: each port's recording is checked for the RSP id it holds")
    folder = args.files[0]
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if os.path.isfile(os.path.join(folder, name)))
    if not paths:
        raise CheckerError(folder, "no recording in the folder")
    return paths


def render(result: CheckResult) -> str:
    """The result for a terminal: verdict, counts, threads, then the findings kept."""
    src = result.source
    name = src.get("scan") or ", ".join(src.get("paths", []))
    lines = [f"{name}: {result.summary()}"]
    lines.append(f"  {result.frame_bytes}-byte frames at {result.frame_rate} frames/s per thread "
                 f"({result.frame_rate_source}), station {result.station}, {result.start_time} .. {result.end_time}")
    counts = {**result.frame_counts.to_json(), "stray_bytes": result.stray_bytes}
    lines.append("  " + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()))
    for thread, report in sorted(result.threads.items()):
        c = report.frame_counts
        lines.append(f"  thread {thread}: {c.frames} frames, {c.missing_frames} missing, {c.invalid_frames} invalid, "
                     f"{c.duplicate_frames} duplicate, {c.out_of_order_frames} out of order, "
                     f"{report.frame_rate} frames/s seen")
    for finding in result.findings:
        where = [finding.file or ""]
        if finding.offset is not None:
            where[0] += f" @{finding.offset}"
        if finding.thread is not None:
            where.append(f"thread {finding.thread}")
        if finding.time:
            where.append(finding.time)
        lines.append(f"  {finding.kind}: {', '.join(w for w in where if w)}: {finding.detail}")
    shown = len(result.findings)
    total = sum(result.counts.values())
    if total > shown:
        lines.append(f"  ... {total - shown} more findings (counts: {json.dumps(result.counts)})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        expect = expectation(args)
        jobs = jobs_from(args, expect)
        outcomes = check_many(jobs, args.jobs)
    except CheckerError as exc:
        print(f"vdif-check: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        print("vdif-check: interrupted", file=sys.stderr)
        return EXIT_UNREADABLE
    failed = [o for o in outcomes if isinstance(o, CheckerError)]
    results = [o for o in outcomes if isinstance(o, CheckResult)]
    for error in failed:
        print(f"vdif-check: {error}", file=sys.stderr)
    try:
        _print(args, jobs, results, failed)
    except BrokenPipeError:  # e.g. piped into head: not an error of the check
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
    if failed:
        return EXIT_UNREADABLE
    return EXIT_CLEAN if all(r.clean for r in results) else EXIT_FINDINGS


def _print(args: argparse.Namespace, jobs: list[CheckJob], results: list[CheckResult],
           failed: list[CheckerError]) -> None:
    if args.json:
        docs: list[dict[str, Any]] = [r.to_json() for r in results]
        if len(jobs) == 1:
            if docs:
                print(json.dumps(docs[0]))
        else:
            document: dict[str, Any] = {"recordings": docs, "errors": [str(e) for e in failed]}
            if _folder(args):
                document["ports"] = port_losses(results)
            print(json.dumps(document))
    else:
        for result in results:
            print(render(result))
        if _folder(args):
            for port in port_losses(results):
                print(f"port {port['path']}: RSP {port['rsp_ids']}, {port['frames']} packets, "
                      f"{port['missing_frames']} missing, {port['duplicate_frames']} duplicate, "
                      f"{port['out_of_order_frames']} out of order, {port['corrupt_headers']} corrupt headers, "
                      f"{port['payload_errors']} payload errors")


def _folder(args: argparse.Namespace) -> bool:
    return any(os.path.isdir(f) for f in args.files)


def port_losses(results: list[CheckResult]) -> list[dict[str, Any]]:
    """Per port's recording (a LOFAR station's folder): its RSP ids and its counts, loss first."""
    return [{"path": r.source.get("paths", [""])[0], "rsp_ids": sorted(r.threads), "clean": r.clean,
             **r.frame_counts.to_json()} for r in results]


if __name__ == "__main__":
    raise SystemExit(main())
